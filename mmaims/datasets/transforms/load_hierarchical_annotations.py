# Copyright (c) mmaims contributors. All rights reserved.
from typing import List

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks

from mmaims.registry import TRANSFORMS
from mmaims.structures import ENTITY, LEVELS, PART, RELATION, decode_rle
from .hierarchy import LEVEL_PREFIX


@TRANSFORMS.register_module()
class LoadHierarchicalAnnotations(BaseTransform):
    """Decode the annotations of all levels of a
    :class:`HierarchicalCocoDataset` data info.

    The entity level uses mmdet's keys, so mmdet transforms see it; parts
    and relations use the ``gt_part_`` / ``gt_relation_`` prefixes (see
    :mod:`mmaims.datasets.transforms.hierarchy`). Links become row indices
    into the entity arrays.

    When the image is loaded first (``LoadImageFromFile``), its size must
    be the record's ``height`` x ``width``; else a ``ValueError`` names the
    image id and file.

    Required Keys:

    - height, width
    - instances (list[dict]): ``level``, ``mask`` (RLE), ``bbox``
      (xyxy), ``ignore_flag``, ``ann_id``, ``entity_id`` (parts),
      ``entity_ids`` (relations)
    - valid_region (RLE | None, optional)
    - levels (list[str]), source (str)

    Added Keys:

    - gt_bboxes (HorizontalBoxes), gt_bboxes_labels (np.int64, zeros),
      gt_masks (BitmapMasks), gt_ignore_flags (bool), gt_ann_ids (np.int64)
    - gt_part_bboxes, gt_part_masks, gt_part_ignore_flags, gt_part_ann_ids,
      gt_part_entity_index (np.int64 ``(N_p,)``, -1 without parent)
    - gt_relation_bboxes, gt_relation_masks, gt_relation_ignore_flags,
      gt_relation_ann_ids, gt_relation_entity_index (np.int64
      ``(N_r, 2)``: subject, object)
    - valid_region (np.bool ``H x W``, all True if the image has none)

    Args:
        levels (Sequence[str]): Levels to load. Defaults to all three.
            Links to an unloaded entity level become -1 and relations are
            then dropped (they need their entities).
    """

    def __init__(self, levels=LEVELS) -> None:
        for level in levels:
            if level not in LEVELS:
                raise ValueError(f'unknown level "{level}"')
        self.levels = tuple(levels)

    def transform(self, results: dict) -> dict:
        """Decode masks, boxes, flags and links of every level.

        Args:
            results (dict): Result dict from the dataset.

        Returns:
            dict: The result dict with the added keys.
        """
        h, w = results['height'], results['width']
        img = results.get('img')
        if img is not None and tuple(img.shape[:2]) != (h, w):
            # the masks are decoded at the record's size: on another image
            # size they would be shifted or cut without a word
            raise ValueError(
                f'image id {results.get("img_id")} '
                f'({results.get("img_path")}): the image file is '
                f'{img.shape[0]} x {img.shape[1]} (h x w) but its record '
                f'says {h} x {w}; fix the annotation file (tools/misc/'
                'check_dataset.py lists every such image)')
        by_level = {level: [] for level in LEVELS}
        for inst in results.get('instances', []):
            by_level[inst['level']].append(inst)
        entity_row = {
            inst['ann_id']: row
            for row, inst in enumerate(by_level[ENTITY])
        } if ENTITY in self.levels else {}

        for level in self.levels:
            insts = by_level[level]
            if level == RELATION:
                # a relation without both loaded entities is meaningless
                insts = [
                    i for i in insts
                    if all(e in entity_row for e in i['entity_ids'])
                ]
            self._load_level(results, level, insts, h, w)
            prefix = LEVEL_PREFIX[level]
            if level == PART:
                results[f'{prefix}entity_index'] = np.array(
                    [entity_row.get(i['entity_id'], -1) for i in insts],
                    dtype=np.int64)
            elif level == RELATION:
                results[f'{prefix}entity_index'] = np.array(
                    [[entity_row[e] for e in i['entity_ids']]
                     for i in insts],
                    dtype=np.int64).reshape(-1, 2)

        valid = results.get('valid_region')
        if isinstance(valid, dict):
            results['valid_region'] = decode_rle(valid)
        elif valid is None:
            results['valid_region'] = np.ones((h, w), dtype=bool)
        return results

    @staticmethod
    def _load_level(results: dict, level: str, insts: List[dict], h: int,
                    w: int) -> None:
        prefix = LEVEL_PREFIX[level]
        if insts:
            masks = np.stack([decode_rle(i['mask']) for i in insts])
        else:
            masks = np.zeros((0, h, w), dtype=np.uint8)
        results[f'{prefix}masks'] = BitmapMasks(
            masks.astype(np.uint8), h, w)
        results[f'{prefix}bboxes'] = HorizontalBoxes(
            np.array([i['bbox'] for i in insts],
                     dtype=np.float32).reshape(-1, 4))
        results[f'{prefix}ignore_flags'] = np.array(
            [bool(i['ignore_flag']) for i in insts], dtype=bool)
        # ids that are not integers (allowed by COCO readers) become -1
        results[f'{prefix}ann_ids'] = np.array(
            [_int_or_minus_one(i['ann_id']) for i in insts], dtype=np.int64)
        if level == ENTITY:
            results['gt_bboxes_labels'] = np.zeros(len(insts), dtype=np.int64)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(levels={self.levels})'


def _int_or_minus_one(value) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    return -1
