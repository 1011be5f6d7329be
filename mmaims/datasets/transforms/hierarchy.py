# Copyright (c) mmaims contributors. All rights reserved.
"""Keys of the per-level annotations in the results dict, and the one
function that removes instances while keeping the links consistent.

Between :class:`LoadHierarchicalAnnotations` and :class:`PackAIMSInputs`
every level lives under its own key prefix; the entity level uses mmdet's
standard keys so mmdet transforms keep working on it:

======== ================= ===============================================
level    prefix            keys (leading dimension N of that level)
======== ================= ===============================================
entity   ``gt_``           ``gt_bboxes`` (HorizontalBoxes),
                           ``gt_bboxes_labels``, ``gt_masks`` (BitmapMasks),
                           ``gt_ignore_flags``, ``gt_ann_ids``
part     ``gt_part_``      ``gt_part_bboxes``, ``gt_part_masks``,
                           ``gt_part_ignore_flags``, ``gt_part_ann_ids``,
                           ``gt_part_entity_index`` (N_p, int64)
relation ``gt_relation_``  ``gt_relation_bboxes``, ``gt_relation_masks``,
                           ``gt_relation_ignore_flags``,
                           ``gt_relation_ann_ids``,
                           ``gt_relation_entity_index`` (N_r x 2, int64)
======== ================= ===============================================

``*_entity_index`` are rows of the entity arrays (crowd rows included), -1
when the parent is absent. ``valid_region`` (bool ``H x W``) and, once a
prompt is sampled, ``prompt_mask`` (uint8 ``H x W``) are per-pixel maps
transformed with the image.
"""
from typing import Dict, List

import numpy as np

from mmaims.structures import ENTITY, LEVELS, PART, RELATION
from mmaims.structures.fields import PIXEL_FIELDS

LEVEL_PREFIX: Dict[str, str] = {
    ENTITY: 'gt_',
    PART: 'gt_part_',
    RELATION: 'gt_relation_',
}

#: Per-pixel maps transformed together with the image.
# the per-pixel maps keep their data-sample field names in the results
PIXEL_MAP_KEYS = PIXEL_FIELDS


def level_keys(level: str) -> List[str]:
    """Keys holding one row per instance of ``level``."""
    prefix = LEVEL_PREFIX[level]
    keys = [f'{prefix}bboxes', f'{prefix}masks', f'{prefix}ignore_flags',
            f'{prefix}ann_ids']
    if level == ENTITY:
        keys.append('gt_bboxes_labels')
    else:
        keys.append(f'{prefix}entity_index')
    return keys


def has_level(results: dict, level: str) -> bool:
    """Whether ``results`` holds annotations of ``level``."""
    return results.get(f'{LEVEL_PREFIX[level]}masks') is not None


def num_instances(results: dict, level: str) -> int:
    """Number of instances (crowd included) of ``level`` in ``results``."""
    if not has_level(results, level):
        return 0
    return len(results[f'{LEVEL_PREFIX[level]}masks'])


def keep_instances(results: dict, level: str, keep: np.ndarray) -> dict:
    """Keep only the rows ``keep`` of ``level`` and remap the links.

    Removing entities turns the ``gt_part_entity_index`` of their parts into
    -1 and removes the relations that lose one of their two entities (a
    relation is defined by its entities). Removing parts or relations
    changes nothing else.

    Args:
        results (dict): The results dict, modified in place.
        level (str): ``'part'``, ``'entity'`` or ``'relation'``.
        keep (np.ndarray): bool ``(N,)`` mask or int indices of the rows to
            keep, in the new order.

    Returns:
        dict: ``results``.
    """
    if not has_level(results, level):
        return results
    n = num_instances(results, level)
    keep = np.asarray(keep)
    if keep.dtype == bool:
        if keep.shape != (n, ):
            raise ValueError(f'keep mask of shape {keep.shape} for {n} '
                             f'{level} instances')
        index = np.flatnonzero(keep)
    else:
        index = keep.astype(np.int64).reshape(-1)
    for key in level_keys(level):
        if results.get(key) is None:
            continue
        # ndarray, BitmapMasks and HorizontalBoxes all index like arrays.
        results[key] = results[key][index]
    if level == ENTITY:
        old_to_new = np.full(n, -1, dtype=np.int64)
        old_to_new[index] = np.arange(len(index))
        _remap_links(results, old_to_new)
    return results


def _remap_links(results: dict, old_to_new: np.ndarray) -> None:

    def remap(idx: np.ndarray) -> np.ndarray:
        out = np.full(idx.shape, -1, dtype=np.int64)
        valid = idx >= 0
        out[valid] = old_to_new[idx[valid]]
        return out

    if results.get('gt_part_entity_index') is not None:
        results['gt_part_entity_index'] = remap(
            results['gt_part_entity_index'])
    if results.get('gt_relation_entity_index') is not None:
        new = remap(results['gt_relation_entity_index'])
        had_both = (results['gt_relation_entity_index'] >= 0).all(axis=1)
        lost = had_both & (new < 0).any(axis=1)
        results['gt_relation_entity_index'] = new
        if lost.any():
            keep_instances(results, RELATION, ~lost)


def mask_areas(results: dict, level: str) -> np.ndarray:
    """Pixel count of every mask of ``level``, shape ``(N,)``."""
    if not has_level(results, level):
        return np.zeros(0, dtype=np.int64)
    masks = results[f'{LEVEL_PREFIX[level]}masks'].masks
    if len(masks) == 0:
        return np.zeros(0, dtype=np.int64)
    return masks.reshape(len(masks), -1).sum(axis=1).astype(np.int64)


def check_links(results: dict) -> None:
    """Raise AssertionError if any link points outside the entity rows.

    Used by tests and by :class:`PackAIMSInputs` to catch a transform that
    forgot to remap links.
    """
    n_e = num_instances(results, ENTITY)
    for level in (PART, RELATION):
        if not has_level(results, level):
            continue
        n = num_instances(results, level)
        for key in level_keys(level):
            if results.get(key) is not None:
                assert len(results[key]) == n, \
                    f'{key} has {len(results[key])} rows, expected {n}'
        idx = results[f'{LEVEL_PREFIX[level]}entity_index']
        assert ((idx >= -1) & (idx < n_e)).all(), \
            f'{level} links {idx.tolist()} outside [-1, {n_e})'
    if has_level(results, ENTITY):
        for key in level_keys(ENTITY):
            if results.get(key) is not None:
                assert len(results[key]) == n_e, \
                    f'{key} has {len(results[key])} rows, expected {n_e}'


__all__ = [
    'LEVEL_PREFIX', 'PIXEL_MAP_KEYS', 'LEVELS', 'level_keys', 'has_level',
    'num_instances', 'keep_instances', 'mask_areas', 'check_links'
]
