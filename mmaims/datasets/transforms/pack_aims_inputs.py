# Copyright (c) mmaims contributors. All rights reserved.
from typing import Optional, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData, PixelData

from mmaims.registry import TRANSFORMS
from mmaims.structures import ENTITY, LEVELS, PART, RELATION
from mmaims.structures.fields import (GT_FIELDS, IGNORED_FIELDS,
                                      LOSS_REGION_FIELD, PROMPT_ROUGH_KEY)
from mmaims.structures.tasks import eval_task
from .hierarchy import LEVEL_PREFIX, check_links, has_level


@TRANSFORMS.register_module()
class PackAIMSInputs(BaseTransform):
    """Pack a sample into ``inputs`` and a ``DetDataSample`` exactly as
    ``docs/data_sample.md`` section 1 specifies.

    Per level, non-crowd rows become the targets (``gt_instances``,
    ``gt_part_instances``, ``gt_relation_instances``) and crowd rows the
    ignore regions (``ignored_instances``, ``ignored_part_instances``,
    ``ignored_relation_instances``). Each ``InstanceData`` has ``masks``
    (BitmapMasks ``N x H x W``), ``bboxes`` (float32 ``N x 4`` xyxy),
    ``labels`` (int64 zeros) and ``ann_ids`` (int64). Part targets carry
    ``entity_index`` (``N_p``) and relation targets ``entity_index``
    (``N_r x 2``): rows of ``gt_instances``, -1 when the entity is not a
    target of this sample (e.g. a crowd entity).

    Without annotations (inference pipelines) only the image, the
    ``prompt_mask`` and ``valid_region`` (all ones unless given) and the
    metainfo are packed; without a ``task`` key the task is the one-step
    evaluation task (sample type 0). Missing geometry keys get their
    identity values (``img_shape`` from the image, ``ori_shape =
    img_shape``, ``scale_factor=(1., 1.)``, ``flip=False``).

    Required Keys:

    - img
    - gt_* / gt_part_* / gt_relation_* of
      :class:`LoadHierarchicalAnnotations` (optional)
    - valid_region (np.bool ``H x W``, optional)
    - prompt_mask (np.uint8 ``H x W``, optional)
    - loss_region (np.bool ``H x W``, optional; packed as ``loss_region``
      only when present)
    - task (dict, optional), levels, source, and the ``meta_keys``

    Added Keys:

    - inputs (torch.Tensor ``C x H x W``)
    - data_samples (DetDataSample)

    Args:
        meta_keys (Sequence[str]): Keys copied into the metainfo (when
            present). Defaults to mmdet's plus ``levels``, ``source``,
            ``task``, ``prompt_rough`` (:class:`SampleTaskPrompt`),
            ``drill_down_prompts`` (:class:`LoadDrillDownPrompts`)
            and ``sample_index`` (the sampler's index of a training sample,
            :meth:`AIMSTaskDataset.prepare_data`).
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('img_id', 'img_path',
                                             'ori_shape', 'img_shape',
                                             'scale_factor', 'flip',
                                             'flip_direction', 'levels',
                                             'source', 'task',
                                             PROMPT_ROUGH_KEY,
                                             'drill_down_prompts',
                                             'sample_index')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> Optional[dict]:
        """Pack the results.

        Args:
            results (dict): Result dict of the pipeline.

        Returns:
            dict: ``inputs`` and ``data_samples``.
        """
        img = results['img']
        if img.ndim < 3:
            img = np.expand_dims(img, -1)
        if not img.flags.c_contiguous:
            img = np.ascontiguousarray(img.transpose(2, 0, 1))
            inputs = torch.from_numpy(img)
        else:
            inputs = torch.from_numpy(img).permute(2, 0, 1).contiguous()
        h, w = img.shape[:2]

        data_sample = DetDataSample()
        if any(has_level(results, level) for level in LEVELS):
            check_links(results)
            self._pack_instances(results, data_sample)

        prompt = results.get('prompt_mask')
        if prompt is None:
            prompt = np.ones((h, w), dtype=np.uint8)
        data_sample.prompt_mask = PixelData(
            data=torch.from_numpy(
                np.ascontiguousarray(prompt, dtype=np.uint8))[None])
        valid = results.get('valid_region')
        if valid is None:
            valid = np.ones((h, w), dtype=bool)
        data_sample.valid_region = PixelData(
            data=torch.from_numpy(np.ascontiguousarray(valid,
                                                       dtype=bool))[None])
        loss_region = results.get(LOSS_REGION_FIELD)
        if loss_region is not None:
            data_sample.set_field(
                PixelData(data=torch.from_numpy(
                    np.ascontiguousarray(loss_region, dtype=bool))[None]),
                LOSS_REGION_FIELD)

        meta = {}
        for key in self.meta_keys:
            if key in results:
                meta[key] = results[key]
        # pipelines without Resize / RandomFlip still give the model the
        # geometry keys it reads
        meta.setdefault('img_shape', (h, w))
        meta.setdefault('ori_shape', meta['img_shape'])
        meta.setdefault('scale_factor', (1.0, 1.0))
        meta.setdefault('flip', False)
        meta.setdefault('flip_direction', None)
        meta.setdefault('levels', list(results.get('levels', [])))
        meta.setdefault('source', results.get('source', 'default'))
        meta.setdefault('task', eval_task(meta['levels']))
        data_sample.set_metainfo(meta)
        return dict(inputs=inputs, data_samples=data_sample)

    @staticmethod
    def _pack_instances(results: dict, data_sample: DetDataSample) -> None:
        h, w = results['img'].shape[:2]
        target_row = None
        for level in (ENTITY, PART, RELATION):
            prefix = LEVEL_PREFIX[level]
            gt_field, ignore_field = GT_FIELDS[level], IGNORED_FIELDS[level]
            if not has_level(results, level):
                setattr(data_sample, gt_field, _empty_instances(level, h, w))
                setattr(data_sample, ignore_field,
                        _empty_instances(None, h, w))
                if level == ENTITY:
                    target_row = np.zeros(0, dtype=np.int64)
                continue
            ignore = np.asarray(results[f'{prefix}ignore_flags'], dtype=bool)
            masks = results[f'{prefix}masks']
            boxes = results[f'{prefix}bboxes']
            box_tensor = boxes.tensor if hasattr(boxes, 'tensor') else \
                torch.as_tensor(boxes)
            ann_ids = torch.as_tensor(
                results[f'{prefix}ann_ids'], dtype=torch.int64)
            if level == ENTITY:
                # entity row -> row among the targets (-1 for crowd rows)
                target_row = np.full(len(ignore), -1, dtype=np.int64)
                target_row[~ignore] = np.arange(int((~ignore).sum()))

            for field, rows in ((gt_field, ~ignore), (ignore_field, ignore)):
                index = np.flatnonzero(rows)
                inst = InstanceData()
                inst.masks = masks[index]
                inst.bboxes = box_tensor[torch.from_numpy(index)].float()
                inst.labels = torch.zeros(len(index), dtype=torch.int64)
                inst.ann_ids = ann_ids[torch.from_numpy(index)]
                if level != ENTITY and field == gt_field:
                    links = results[f'{prefix}entity_index'][index]
                    mapped = np.full(links.shape, -1, dtype=np.int64)
                    ok = links >= 0
                    mapped[ok] = target_row[links[ok]]
                    inst.entity_index = torch.from_numpy(mapped)
                setattr(data_sample, field, inst)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'


def _empty_instances(level: Optional[str], h: int, w: int) -> InstanceData:
    inst = InstanceData()
    inst.masks = BitmapMasks(np.zeros((0, h, w), dtype=np.uint8), h, w)
    inst.bboxes = torch.zeros((0, 4), dtype=torch.float32)
    inst.labels = torch.zeros(0, dtype=torch.int64)
    inst.ann_ids = torch.zeros(0, dtype=torch.int64)
    if level == PART:
        inst.entity_index = torch.zeros(0, dtype=torch.int64)
    elif level == RELATION:
        inst.entity_index = torch.zeros((0, 2), dtype=torch.int64)
    return inst
