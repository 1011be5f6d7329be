# Copyright (c) mmaims contributors. All rights reserved.
import mmcv
import numpy as np
from mmdet.datasets.transforms import Resize

from mmaims.registry import TRANSFORMS
from mmaims.structures import PART, RELATION
from .hierarchy import LEVEL_PREFIX, PIXEL_MAP_KEYS


@TRANSFORMS.register_module()
class HierarchicalResize(Resize):
    """mmdet's :class:`~mmdet.datasets.transforms.Resize` for every level.

    The entity level (mmdet's keys) and the image are resized by mmdet; the
    part and relation masks and boxes and the per-pixel maps
    (``valid_region``, ``prompt_mask``) follow with the same scale, masks
    and maps with nearest interpolation to exactly ``img_shape``. Resizing
    removes no instance, so links are unchanged.

    For the paper's multi-scale recipe (short side 640-800 step 32, long
    side <= 1333) wrap it in mmcv's ``RandomChoiceResize``::

        dict(type='RandomChoiceResize',
             scales=[(1333, s) for s in range(640, 801, 32)],
             resize_type='HierarchicalResize', keep_ratio=True)

    Required Keys:

    - img
    - gt_bboxes, gt_masks (optional)
    - gt_part_bboxes, gt_part_masks (optional)
    - gt_relation_bboxes, gt_relation_masks (optional)
    - valid_region, prompt_mask (optional)

    Modified Keys:

    - img, img_shape, the keys above

    Added Keys:

    - scale, scale_factor, keep_ratio, homography_matrix

    Args:
        See :class:`mmdet.datasets.transforms.Resize`.
    """

    def transform(self, results: dict) -> dict:
        """Resize the image and every level.

        Args:
            results (dict): Result dict from the loading pipeline.

        Returns:
            dict: Resized results.
        """
        results = super().transform(results)
        img_shape = results['img_shape']
        for level in (PART, RELATION):
            prefix = LEVEL_PREFIX[level]
            if results.get(f'{prefix}masks') is not None:
                results[f'{prefix}masks'] = results[f'{prefix}masks'].resize(
                    img_shape)
            if results.get(f'{prefix}bboxes') is not None:
                results[f'{prefix}bboxes'].rescale_(results['scale_factor'])
                if self.clip_object_border:
                    results[f'{prefix}bboxes'].clip_(img_shape)
        for key in PIXEL_MAP_KEYS:
            if results.get(key) is not None:
                results[key] = resize_pixel_map(results[key], img_shape)
        return results


def resize_pixel_map(pixel_map: np.ndarray, shape) -> np.ndarray:
    """Nearest-neighbour resize of an ``H x W`` map, keeping its dtype."""
    dtype = pixel_map.dtype
    out = mmcv.imresize(
        pixel_map.astype(np.uint8), (int(shape[1]), int(shape[0])),
        interpolation='nearest')
    return out.astype(dtype)
