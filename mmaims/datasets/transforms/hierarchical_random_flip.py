# Copyright (c) mmaims contributors. All rights reserved.
import mmcv
from mmdet.datasets.transforms import RandomFlip

from mmaims.registry import TRANSFORMS
from mmaims.structures import PART, RELATION
from .hierarchy import LEVEL_PREFIX, PIXEL_MAP_KEYS


@TRANSFORMS.register_module()
class HierarchicalRandomFlip(RandomFlip):
    """mmdet's :class:`~mmdet.datasets.transforms.RandomFlip` for every
    level.

    The image and the entity level are flipped by mmdet; part and relation
    boxes and masks and the per-pixel maps (``valid_region``,
    ``prompt_mask``) follow. Flipping removes no instance, so links are
    unchanged.

    Required Keys:

    - img
    - gt_bboxes, gt_masks (optional)
    - gt_part_bboxes, gt_part_masks (optional)
    - gt_relation_bboxes, gt_relation_masks (optional)
    - valid_region, prompt_mask (optional)

    Modified Keys:

    - img, the keys above

    Added Keys:

    - flip, flip_direction, homography_matrix

    Args:
        See :class:`mmdet.datasets.transforms.RandomFlip` (``prob``,
        ``direction``).
    """

    def _flip(self, results: dict) -> None:
        """Flip the image and every level."""
        super()._flip(results)
        direction = results['flip_direction']
        img_shape = results['img'].shape[:2]
        for level in (PART, RELATION):
            prefix = LEVEL_PREFIX[level]
            if results.get(f'{prefix}bboxes') is not None:
                results[f'{prefix}bboxes'].flip_(img_shape, direction)
            if results.get(f'{prefix}masks') is not None:
                results[f'{prefix}masks'] = results[f'{prefix}masks'].flip(
                    direction)
        for key in PIXEL_MAP_KEYS:
            if results.get(key) is not None:
                results[key] = mmcv.imflip(
                    results[key], direction=direction).copy()
