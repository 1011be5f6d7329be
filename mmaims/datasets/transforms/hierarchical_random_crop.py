# Copyright (c) mmaims contributors. All rights reserved.
from typing import Optional, Tuple

import numpy as np
from mmdet.datasets.transforms import RandomCrop
from mmdet.structures.bbox import HorizontalBoxes

from mmaims.registry import TRANSFORMS
from mmaims.structures import ENTITY, LEVELS, PART, RELATION
from .hierarchy import (LEVEL_PREFIX, PIXEL_MAP_KEYS, has_level,
                        keep_instances, mask_areas)


@TRANSFORMS.register_module()
class HierarchicalRandomCrop(RandomCrop):
    """mmdet's :class:`~mmdet.datasets.transforms.RandomCrop` for every
    level, for small-input configs.

    The crop window is drawn as mmdet does (``crop_size``, ``crop_type``).
    The image, the masks of every level and the per-pixel maps
    (``valid_region``, ``prompt_mask``) are cropped; boxes are recomputed
    from the cropped masks (always exact, unlike translating boxes).
    Instances whose mask is cut away entirely are removed together with
    their links: entities first (their parts get entity index -1, their
    relations are removed), then parts and relations.

    Required Keys:

    - img
    - gt_* / gt_part_* / gt_relation_* (optional)
    - valid_region, prompt_mask (optional)

    Modified Keys:

    - img, img_shape, the keys above

    Added Keys:

    - homography_matrix

    Args:
        crop_size (tuple): See mmdet's ``RandomCrop``.
        crop_type (str): See mmdet's ``RandomCrop``.
        allow_negative_crop (bool): Whether to keep a crop without any
            non-crowd instance of any level. If False the transform returns
            None and the dataset loads another image. Defaults to False.
    """

    def __init__(self,
                 crop_size: tuple,
                 crop_type: str = 'absolute',
                 allow_negative_crop: bool = False) -> None:
        super().__init__(
            crop_size=crop_size,
            crop_type=crop_type,
            allow_negative_crop=allow_negative_crop,
            recompute_bbox=True,
            bbox_clip_border=True)

    def _crop_data(self, results: dict, crop_size: Tuple[int, int],
                   allow_negative_crop: bool) -> Optional[dict]:
        """Crop the image and every level, then drop what was cut away.

        Args:
            results (dict): Result dict.
            crop_size (tuple[int, int]): Absolute ``(h, w)`` of the crop.
            allow_negative_crop (bool): See the class docstring.

        Returns:
            dict | None: Cropped results, or None for an empty crop when
            ``allow_negative_crop`` is False.
        """
        img = results['img']
        margin_h = max(img.shape[0] - crop_size[0], 0)
        margin_w = max(img.shape[1] - crop_size[1], 0)
        offset_h, offset_w = self._rand_offset((margin_h, margin_w))
        y1, y2 = offset_h, offset_h + crop_size[0]
        x1, x2 = offset_w, offset_w + crop_size[1]

        homography = np.array(
            [[1, 0, -offset_w], [0, 1, -offset_h], [0, 0, 1]],
            dtype=np.float32)
        if results.get('homography_matrix') is None:
            results['homography_matrix'] = homography
        else:
            results['homography_matrix'] = \
                homography @ results['homography_matrix']

        results['img'] = img[y1:y2, x1:x2, ...]
        results['img_shape'] = results['img'].shape[:2]
        window = np.array([x1, y1, x2, y2])
        for level in LEVELS:
            if not has_level(results, level):
                continue
            prefix = LEVEL_PREFIX[level]
            masks = results[f'{prefix}masks'].crop(window)
            results[f'{prefix}masks'] = masks
            results[f'{prefix}bboxes'] = masks.get_bboxes(HorizontalBoxes)
        for key in PIXEL_MAP_KEYS:
            if results.get(key) is not None:
                results[key] = results[key][y1:y2, x1:x2].copy()
        if results.get('gt_seg_map') is not None:
            results['gt_seg_map'] = results['gt_seg_map'][y1:y2, x1:x2]

        # entities first: removing them also removes dependent links
        for level in (ENTITY, PART, RELATION):
            keep_instances(results, level, mask_areas(results, level) > 0)
        if not allow_negative_crop and not _has_targets(results):
            return None
        return results


def _has_targets(results: dict) -> bool:
    for level in LEVELS:
        flags = results.get(f'{LEVEL_PREFIX[level]}ignore_flags')
        if flags is not None and (~np.asarray(flags, dtype=bool)).any():
            return True
    return False
