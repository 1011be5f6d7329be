# Copyright (c) mmaims contributors. All rights reserved.
"""Make the predicted masks of one image disjoint (non-overlap AP).

Every pixel keeps only the highest-scoring mask that covers it; on equal
scores the mask with the lower id wins. Masks left empty are dropped. This
is the AP^e protocol of the entity segmentation paper
(002_c21afb253c01faf1.txt, Sec. 3) as defined in docs/formats.md section 3.
"""
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import pycocotools.mask as mask_util

from mmaims.structures.mask import decode_rle, encode_mask


def _priority_order(scores: np.ndarray, ids: np.ndarray) -> np.ndarray:
    # lexsort sorts by the last key first: score descending, then id.
    return np.lexsort((ids, -scores))


def _make_disjoint(get_mask: Callable[[int], np.ndarray],
                   get_box: Callable[[int], Optional[Tuple[int, int, int,
                                                           int]]],
                   rles: Optional[Sequence[dict]], num: int, shape: Tuple[int,
                                                                          int],
                   scores: Sequence[float], ids: Optional[Sequence[int]],
                   order: str) -> Tuple[np.ndarray, list]:
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) != num:
        raise ValueError(f'{num} masks but {len(scores)} scores')
    ids = np.arange(num) if ids is None else np.asarray(ids).reshape(-1)
    if len(ids) != num:
        raise ValueError(f'{num} masks but {len(ids)} ids')
    # ``order`` matches the masks' memory layout (RLEs decode to Fortran
    # order), so the element-wise work below never mixes layouts.
    free = np.ones(shape, dtype=bool, order=order)
    kept = {}
    for i in _priority_order(scores, ids):
        i = int(i)
        box = get_box(i)
        if box is None:  # empty mask
            continue
        mask = get_mask(i)
        if mask.shape != free.shape:
            raise ValueError(f'mask {ids[i]} has shape {mask.shape}, '
                             f'expected {free.shape}')
        # Work inside the mask's box only: outside it nothing changes.
        y0, y1, x0, x1 = box
        crop, free_crop = mask[y0:y1, x0:x1], free[y0:y1, x0:x1]
        own = crop & free_crop
        if not own.any():
            continue
        if rles is not None and np.array_equal(own, crop):
            kept[i] = rles[i]  # untouched by higher-priority masks
        else:
            full = np.zeros(shape, dtype=bool, order='F')
            full[y0:y1, x0:x1] = own
            kept[i] = encode_mask(full)
        free_crop &= ~crop
    # Survivors keep their input order: the AP's stable sort then breaks
    # score ties exactly as for the original masks.
    keep = np.array(sorted(kept), dtype=np.int64)
    return keep, [kept[i] for i in keep.tolist()]


def _dense_box(mask: np.ndarray) -> Optional[Tuple[int, int, int, int]]:
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _rle_box(rle: dict) -> Optional[Tuple[int, int, int, int]]:
    counts = rle['counts']
    if isinstance(counts, str):
        counts = counts.encode('ascii')
    rle = dict(size=list(rle['size']), counts=counts)
    if mask_util.area(rle) == 0:
        return None
    x, y, w, h = (int(v) for v in mask_util.toBbox(rle))
    return y, y + h, x, x + w


def make_disjoint_masks(
        masks: np.ndarray,
        scores: Sequence[float],
        ids: Optional[Sequence[int]] = None,
        rles: Optional[Sequence[dict]] = None
) -> Tuple[np.ndarray, List[dict]]:
    """Disjoint version of dense masks.

    Args:
        masks (np.ndarray): ``N x H x W`` bool masks.
        scores (Sequence[float]): ``N`` scores.
        ids (Sequence[int], optional): ``N`` ids breaking score ties (lower
            wins). Defaults to the row index.
        rles (Sequence[dict], optional): ``N`` RLEs of ``masks``, reused
            for masks that no higher-priority mask overlaps (saves
            encoding them again).

    Returns:
        tuple[np.ndarray, list[dict]]: ``keep`` (``K`` int64 rows of the
        masks that stay non-empty, ascending) and their disjoint masks as
        compressed RLEs (str counts), aligned with ``keep``.
    """
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f'expected N x H x W masks, got shape {masks.shape}')
    masks = masks.astype(bool, copy=False)
    if rles is not None and len(rles) != masks.shape[0]:
        raise ValueError(f'{masks.shape[0]} masks but {len(rles)} RLEs')
    return _make_disjoint(lambda i: masks[i],
                          lambda i: _dense_box(masks[i]), rles, masks.shape[0],
                          tuple(masks.shape[1:]), scores, ids, 'C')


def make_disjoint_rles(
        rles: Sequence[dict],
        scores: Sequence[float],
        ids: Optional[Sequence[int]] = None) -> Tuple[np.ndarray, List[dict]]:
    """Disjoint version of RLE masks (decoded one at a time).

    Args:
        rles (Sequence[dict]): ``N`` compressed RLEs of the same size.
        scores (Sequence[float]): ``N`` scores.
        ids (Sequence[int], optional): ``N`` ids breaking score ties (lower
            wins). Defaults to the index in ``rles``.

    Returns:
        tuple[np.ndarray, list[dict]]: as :func:`make_disjoint_masks`.
    """
    if len(rles) == 0:
        return np.zeros(0, dtype=np.int64), []
    shape = tuple(int(s) for s in rles[0]['size'])
    return _make_disjoint(lambda i: decode_rle(rles[i]),
                          lambda i: _rle_box(rles[i]), rles, len(rles), shape,
                          scores, ids, 'F')
