# Copyright (c) mmaims contributors. All rights reserved.
from typing import List, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmdet.structures.bbox import HorizontalBoxes

from mmaims.registry import TRANSFORMS
from mmaims.structures import ENTITY
from .hierarchical_resize import HierarchicalResize
from .hierarchy import (PIXEL_MAP_KEYS, has_level, keep_instances, level_keys,
                        mask_areas)

#: The four fixed crops of CropFormer (paper Sec. 4.2), in the order the
#: test-time views are listed.
CROP_CORNERS = ('top_left', 'top_right', 'bottom_left', 'bottom_right')

Scale = Tuple[int, int]


def corner_crop_box(img_shape: Tuple[int, int], corner: str,
                    crop_ratio: float) -> np.ndarray:
    """The crop window of one corner of an image (paper eq. 1).

    The window is ``floor(crop_ratio * h)`` x ``floor(crop_ratio * w)``
    pixels (at least one) and touches the two image borders of its corner.

    Args:
        img_shape (tuple[int, int]): ``(h, w)`` of the image.
        corner (str): One of :data:`CROP_CORNERS`.
        crop_ratio (float): The crop ratio δ in (0, 1].

    Returns:
        np.ndarray: int64 ``(4,)`` box ``(x0, y0, x1, y1)`` in pixels, end
        exclusive: the crop is ``img[y0:y1, x0:x1]``.
    """
    if corner not in CROP_CORNERS:
        raise ValueError(f'unknown crop corner {corner!r}; expected one of '
                         f'{CROP_CORNERS}')
    if not 0.0 < crop_ratio <= 1.0:
        raise ValueError(f'crop_ratio must be in (0, 1], got {crop_ratio}')
    h, w = int(img_shape[0]), int(img_shape[1])
    # the small epsilon keeps e.g. 0.29 * 100 = 28.999999999999996 at 29
    crop_h = max(int(np.floor(crop_ratio * h + 1e-6)), 1)
    crop_w = max(int(np.floor(crop_ratio * w + 1e-6)), 1)
    y0 = 0 if corner.startswith('top') else h - crop_h
    x0 = 0 if corner.endswith('left') else w - crop_w
    return np.array([x0, y0, x0 + crop_w, y0 + crop_h], dtype=np.int64)


@TRANSFORMS.register_module()
class CropFormerViews(BaseTransform):
    """Pair an image with fixed corner crops of it, both views at one size
    (CropFormer's crop dataloader, paper Sec. 4.2, eq. 1).

    The crop is one of the four image corners (:data:`CROP_CORNERS`), of
    ``crop_ratio`` (δ, default 0.7) times the image height and width. In
    training (``test_mode=False``) one corner of ``corners`` is drawn
    uniformly per sample; at test time every corner of ``corners`` gives a
    view, in that order. Crops are cut from the image this transform
    receives, before any resizing, so a crop keeps more pixels of its
    region than the full view: put it after loading (and after a flip,
    which then applies to both views), in place of the resize. The full
    image is then resized with ``scale`` (mmdet's ``Resize`` semantics, a
    random choice per sample when ``scale`` is a list), and every crop is
    resized to exactly the full view's resized size (the crop has the
    image's aspect ratio up to one pixel of rounding), so that the views
    can be stacked.

    **Results layout.** The full view stays in the usual keys (every
    level, resized by :class:`HierarchicalResize`), so the transforms that
    follow and :class:`PackAIMSInputs` see an ordinary sample. The crops
    are added as ``results['crop_views']``, a list of self-contained
    results dicts of the entity level (each one can be packed by
    :class:`PackAIMSInputs`), and their windows as ``results['crop_boxes']``
    (int64 ``(K, 4)``, ``x0, y0, x1, y1`` in the pixels of the image the
    transform received, end exclusive; at test time, with the transform
    right after loading, these are original-image pixels, as
    :func:`mmaims.models.utils.merge_crop_predictions` needs them).

    **Identity across views (entity level).** A crop view holds, in the
    full view's order, exactly the entities whose mask is not empty in the
    crop after resizing: an entity cut by the crop keeps its row (its
    ``gt_ann_ids`` and crowd flag) with its cropped mask; an entity
    entirely outside the crop is absent. ``gt_full_index`` gives the full
    view row of each crop view row and ``gt_crop_index`` the crop view row
    of each full view row (-1: absent from this crop). The full view keeps
    all its rows, so transforms after this one must not remove or reorder
    entities (filter with :class:`FilterHierarchicalAnnotations` before
    it). Parts and relations stay in the full view only: CropFormer
    segments entities.

    Required Keys:

    - img
    - gt_bboxes, gt_bboxes_labels, gt_masks, gt_ignore_flags, gt_ann_ids
      (optional: without them the views carry no annotations)
    - gt_part_* / gt_relation_* (optional, full view only)
    - valid_region, prompt_mask (optional)
    - img_id, img_path, levels, source, flip, flip_direction,
      homography_matrix (optional, copied into the crop views)

    Modified Keys:

    - img, img_shape and every annotation and per-pixel map key (the full
      view resized)

    Added Keys:

    - scale, scale_factor, keep_ratio, homography_matrix (of the full view)
    - crop_boxes (np.int64 ``(K, 4)``): K = 1 in training, ``len(corners)``
      in test mode
    - crop_corners (list[str]): the corner of each crop view
    - crop_views (list[dict]): per crop, ``img``, ``img_shape``,
      ``ori_shape`` (the crop window's ``(h, w)``: predictions rescaled to
      it are in the window's pixels), ``crop_box``, ``crop_corner``,
      ``scale``, ``scale_factor`` (crop window -> view), ``keep_ratio``,
      ``homography_matrix`` (received image -> view), the entity keys
      ``gt_bboxes`` (recomputed from the masks), ``gt_bboxes_labels``,
      ``gt_masks``, ``gt_ignore_flags``, ``gt_ann_ids``, the mapping
      ``gt_full_index`` (np.int64 ``(N_c,)``) and ``gt_crop_index``
      (np.int64 ``(N,)``), the cropped ``valid_region`` / ``prompt_mask``,
      and ``img_id``, ``img_path``, ``source``, ``flip``,
      ``flip_direction`` copied, ``levels`` reduced to the entity level.

    Args:
        scale (tuple[int, int] | Sequence[tuple[int, int]]): Resize scale
            ``(w, h)`` of the full view, as mmdet's ``Resize`` (with
            ``keep_ratio`` the long and short edge limits), or a list of
            them to draw one from per sample (the paper's multi-scale
            training: ``[(1333, s) for s in range(640, 801, 32)]``).
        crop_ratio (float): δ, the crop's size relative to the image.
            Defaults to 0.7 (paper Table 9a).
        test_mode (bool): All ``corners`` (test) instead of one drawn at
            random (training). Defaults to False.
        corners (Sequence[str]): The corners to use. Defaults to all four.
        keep_ratio (bool): Whether the full view keeps its aspect ratio.
            Defaults to True.
        interpolation (str): Image interpolation of the resizes (masks and
            per-pixel maps use nearest). Defaults to ``'bilinear'``.
    """

    def __init__(self,
                 scale: Union[Scale, Sequence[Scale]],
                 crop_ratio: float = 0.7,
                 test_mode: bool = False,
                 corners: Sequence[str] = CROP_CORNERS,
                 keep_ratio: bool = True,
                 interpolation: str = 'bilinear') -> None:
        if not 0.0 < crop_ratio <= 1.0:
            raise ValueError(f'CropFormerViews: crop_ratio must be in (0, 1]'
                             f', got {crop_ratio}')
        corners = tuple(corners)
        unknown = [c for c in corners if c not in CROP_CORNERS]
        if not corners or unknown or len(set(corners)) != len(corners):
            raise ValueError(f'CropFormerViews: corners must be distinct '
                             f'names of {CROP_CORNERS}, got {corners}')
        self.scales = self._parse_scales(scale)
        self.crop_ratio = float(crop_ratio)
        self.test_mode = test_mode
        self.corners = corners
        self.keep_ratio = keep_ratio
        self.interpolation = interpolation

    @staticmethod
    def _parse_scales(scale) -> List[Scale]:
        if isinstance(scale, (int, np.integer)):
            return [(int(scale), int(scale))]
        scale = list(scale)
        if len(scale) == 2 and all(
                isinstance(s, (int, np.integer)) for s in scale):
            return [(int(scale[0]), int(scale[1]))]
        scales = []
        for s in scale:
            if len(s) != 2:
                raise ValueError('CropFormerViews: scale must be (w, h) or a '
                                 f'list of (w, h), got {scale}')
            scales.append((int(s[0]), int(s[1])))
        if not scales:
            raise ValueError('CropFormerViews: no scale given')
        return scales

    @cache_randomness
    def _choose_corners(self) -> List[str]:
        if self.test_mode:
            return list(self.corners)
        return [self.corners[np.random.randint(len(self.corners))]]

    @cache_randomness
    def _choose_scale(self) -> Scale:
        return self.scales[np.random.randint(len(self.scales))]

    def transform(self, results: dict) -> dict:
        """Cut the crop views, then resize all views to one size.

        Args:
            results (dict): Result dict with the loaded image and,
                optionally, the annotations of
                :class:`LoadHierarchicalAnnotations`.

        Returns:
            dict: The full view, resized, with ``crop_views``,
            ``crop_boxes`` and ``crop_corners``.
        """
        if results.get('img') is None:
            raise KeyError(f'CropFormerViews: image {results.get("img_id")} '
                           'has no "img"; load the image first')
        img_shape = results['img'].shape[:2]
        corners = self._choose_corners()
        boxes = [
            corner_crop_box(img_shape, corner, self.crop_ratio)
            for corner in corners
        ]
        views = [
            self._cut_view(results, box, corner)
            for box, corner in zip(boxes, corners)
        ]
        results = HierarchicalResize(
            scale=self._choose_scale(),
            keep_ratio=self.keep_ratio,
            interpolation=self.interpolation).transform(results)
        full_h, full_w = results['img_shape'][:2]
        view_resize = HierarchicalResize(
            scale=(int(full_w), int(full_h)),
            keep_ratio=False,
            interpolation=self.interpolation)
        num_full = len(results['gt_masks']) if has_level(results,
                                                         ENTITY) else None
        for i, view in enumerate(views):
            views[i] = view_resize.transform(view)
            if num_full is not None:
                self._keep_present(views[i], num_full)
        results['crop_views'] = views
        results['crop_boxes'] = np.stack(boxes).astype(np.int64)
        results['crop_corners'] = list(corners)
        return results

    @staticmethod
    def _cut_view(results: dict, box: np.ndarray, corner: str) -> dict:
        """The crop of ``box`` as a results dict of the entity level."""
        x0, y0, x1, y1 = (int(v) for v in box)
        view = dict(
            img=results['img'][y0:y1, x0:x1, ...].copy(),
            ori_shape=(y1 - y0, x1 - x0),
            crop_box=box.copy(),
            crop_corner=corner)
        view['img_shape'] = view['img'].shape[:2]
        for key in ('img_id', 'img_path', 'source', 'flip', 'flip_direction'):
            if key in results:
                view[key] = results[key]
        if 'levels' in results:
            view['levels'] = [lv for lv in results['levels'] if lv == ENTITY]
        translation = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]],
                               dtype=np.float32)
        prior = results.get('homography_matrix')
        view['homography_matrix'] = translation if prior is None else \
            translation @ prior
        if has_level(results, ENTITY):
            for key in level_keys(ENTITY):
                if results.get(key) is not None:
                    view[key] = results[key]
            masks = results['gt_masks'].crop(box)
            view['gt_masks'] = masks
            view['gt_bboxes'] = masks.get_bboxes(HorizontalBoxes)
        for key in PIXEL_MAP_KEYS:
            if results.get(key) is not None:
                view[key] = results[key][y0:y1, x0:x1].copy()
        return view

    @staticmethod
    def _keep_present(view: dict, num_full: int) -> None:
        """Keep the entities with a non-empty mask in the resized crop and
        record the row mapping to the full view."""
        present = mask_areas(view, ENTITY) > 0
        full_index = np.flatnonzero(present).astype(np.int64)
        keep_instances(view, ENTITY, full_index)
        crop_index = np.full(num_full, -1, dtype=np.int64)
        crop_index[full_index] = np.arange(len(full_index), dtype=np.int64)
        view['gt_full_index'] = full_index
        view['gt_crop_index'] = crop_index

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scales}, '
                f'crop_ratio={self.crop_ratio}, test_mode={self.test_mode}, '
                f'corners={self.corners}, keep_ratio={self.keep_ratio}, '
                f'interpolation={self.interpolation!r})')
