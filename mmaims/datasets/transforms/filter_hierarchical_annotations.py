# Copyright (c) mmaims contributors. All rights reserved.
from typing import Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from mmaims.registry import TRANSFORMS
from mmaims.structures import ENTITY, LEVELS
from .hierarchy import LEVEL_PREFIX, has_level, keep_instances, mask_areas


@TRANSFORMS.register_module()
class FilterHierarchicalAnnotations(BaseTransform):
    """mmdet's ``FilterAnnotations`` for every level, keeping links right.

    An instance of a filtered level is removed if its box is smaller than
    ``min_gt_bbox_wh`` (``by_box``) or its mask has fewer than
    ``min_gt_mask_area`` pixels (``by_mask``). Entities are filtered first:
    parts of a removed entity get entity index -1 and relations that lose
    an entity are removed.

    Required Keys:

    - gt_* / gt_part_* / gt_relation_* (optional)

    Modified Keys:

    - the keys above of the filtered levels

    Args:
        min_gt_bbox_wh (tuple[float, float]): Minimum box width and
            height. Defaults to (1, 1).
        min_gt_mask_area (int): Minimum mask area in pixels. Defaults to 1.
        by_box (bool): Filter by box size. Defaults to False.
        by_mask (bool): Filter by mask area. Defaults to True.
        levels (Sequence[str]): Levels to filter. Defaults to all.
        keep_empty (bool): As in mmdet: if True, return None (the dataset
            then loads another image) when no non-crowd instance of any
            level is left. Defaults to False.
    """

    def __init__(self,
                 min_gt_bbox_wh: Tuple[float, float] = (1., 1.),
                 min_gt_mask_area: int = 1,
                 by_box: bool = False,
                 by_mask: bool = True,
                 levels: Sequence[str] = LEVELS,
                 keep_empty: bool = False) -> None:
        if not (by_box or by_mask):
            raise ValueError('at least one of by_box and by_mask must be on')
        for level in levels:
            if level not in LEVELS:
                raise ValueError(f'unknown level "{level}"')
        self.min_gt_bbox_wh = min_gt_bbox_wh
        self.min_gt_mask_area = min_gt_mask_area
        self.by_box = by_box
        self.by_mask = by_mask
        # entities first so that their removal drops dependent links
        self.levels = tuple(sorted(levels, key=lambda v: v != ENTITY))
        self.keep_empty = keep_empty

    def transform(self, results: dict) -> Optional[dict]:
        """Filter the instances of every configured level.

        Args:
            results (dict): Result dict.

        Returns:
            dict | None: Filtered results, or None if ``keep_empty`` and
            nothing is left.
        """
        for level in self.levels:
            if not has_level(results, level):
                continue
            prefix = LEVEL_PREFIX[level]
            keep = np.ones(len(results[f'{prefix}masks']), dtype=bool)
            if self.by_box:
                boxes = results[f'{prefix}bboxes']
                keep &= (boxes.widths > self.min_gt_bbox_wh[0]).numpy()
                keep &= (boxes.heights > self.min_gt_bbox_wh[1]).numpy()
            if self.by_mask:
                keep &= mask_areas(results, level) >= self.min_gt_mask_area
            keep_instances(results, level, keep)
        if self.keep_empty:
            for level in LEVELS:
                flags = results.get(f'{LEVEL_PREFIX[level]}ignore_flags')
                if flags is not None and (~flags).any():
                    return results
            return None
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'min_gt_bbox_wh={self.min_gt_bbox_wh}, '
                f'min_gt_mask_area={self.min_gt_mask_area}, '
                f'by_box={self.by_box}, by_mask={self.by_mask}, '
                f'levels={self.levels}, keep_empty={self.keep_empty})')
