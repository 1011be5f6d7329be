# Copyright (c) mmaims contributors. All rights reserved.
from typing import Optional, Sequence

import numpy as np

from mmaims.registry import TRANSFORMS
from .pack_aims_inputs import PackAIMSInputs

#: PackAIMSInputs' metainfo keys plus the crop windows of the sample.
CROP_FORMER_META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                         'scale_factor', 'flip', 'flip_direction', 'levels',
                         'source', 'task', 'drill_down_prompts', 'crop_boxes',
                         'crop_corners')


@TRANSFORMS.register_module()
class PackCropFormerInputs(PackAIMSInputs):
    """Pack a :class:`CropFormerViews` sample: the full view as
    :class:`PackAIMSInputs` packs any sample, and each crop view the same
    way, attached to the full view's data sample.

    Each crop view gets the full view's ``task`` (so the image-level loss
    supervises it as the full view) and is packed by
    :meth:`PackAIMSInputs.transform`. The row mapping of
    :class:`CropFormerViews` (``gt_crop_index``, over all entity rows,
    crowd rows included) is turned into one over the packed targets: for
    each row of the full view's ``gt_instances``, the row of the crop
    view's ``gt_instances`` holding the same entity, or -1 when the crop
    does not show it (crowd rows go to ``ignored_instances`` in both views
    and are left out of the mapping).

    Required Keys:

    - the keys of :class:`PackAIMSInputs`
    - crop_views, crop_boxes, crop_corners (:class:`CropFormerViews`)

    Added Keys:

    - inputs (torch.Tensor ``C x H x W``): the full view
    - data_samples (DetDataSample): the full view, with the extra data
      fields ``crop_inputs`` (list of ``C x H x W`` tensors, one per crop)
      and ``crop_samples`` (list of DetDataSample, one per crop, whose
      metainfo has ``gt_crop_index``: np.int64 ``(N_targets, )``, the crop
      target row of each full-view target row or -1), and ``crop_boxes`` /
      ``crop_corners`` in its metainfo.

    Args:
        meta_keys (Sequence[str]): Keys copied into the metainfo of the
            full view (the crop views use the same keys). Defaults to
            :data:`CROP_FORMER_META_KEYS`.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = CROP_FORMER_META_KEYS) -> None:
        super().__init__(meta_keys=meta_keys)

    def transform(self, results: dict) -> Optional[dict]:
        """Pack the full view and its crop views.

        Args:
            results (dict): Result dict of the pipeline, after
                :class:`CropFormerViews`.

        Returns:
            dict: ``inputs`` and ``data_samples`` of the full view.
        """
        views = results.get('crop_views')
        if views is None:
            raise KeyError(f'PackCropFormerInputs: image '
                           f'{results.get("img_id")} has no "crop_views"; '
                           'put CropFormerViews in the pipeline')
        packed = super().transform(results)
        full_sample = packed['data_samples']
        crop_inputs, crop_samples = [], []
        full_targets = self._target_rows(results)
        for k, view in enumerate(views):
            view = dict(view)
            if 'task' in results:
                view['task'] = results['task']
            packed_view = super().transform(view)
            sample = packed_view['data_samples']
            if full_targets is not None:
                sample.set_metainfo(
                    dict(
                        gt_crop_index=self._target_index(
                            results, view, full_targets, k)))
            crop_inputs.append(packed_view['inputs'])
            crop_samples.append(sample)
        full_sample.crop_inputs = crop_inputs
        full_sample.crop_samples = crop_samples
        return packed

    @staticmethod
    def _target_rows(results: dict) -> Optional[np.ndarray]:
        """Row among the packed targets of each entity row, -1 for crowd
        rows (None without annotations)."""
        flags = results.get('gt_ignore_flags')
        if flags is None:
            return None
        flags = np.asarray(flags, dtype=bool)
        rows = np.full(len(flags), -1, dtype=np.int64)
        rows[~flags] = np.arange(int((~flags).sum()))
        return rows

    def _target_index(self, results: dict, view: dict,
                      full_targets: np.ndarray, k: int) -> np.ndarray:
        crop_index = view.get('gt_crop_index')
        if crop_index is None or len(crop_index) != len(full_targets):
            raise KeyError(f'PackCropFormerInputs: image '
                           f'{results.get("img_id")}, crop {k} has no '
                           'gt_crop_index matching the full view rows; '
                           'entities were added or removed after '
                           'CropFormerViews')
        crop_targets = self._target_rows(view)
        index = np.full(int((full_targets >= 0).sum()), -1, dtype=np.int64)
        for full_row, crop_row in enumerate(crop_index):
            target = full_targets[full_row]
            if target >= 0 and crop_row >= 0:
                index[target] = crop_targets[crop_row]
        return index
