# Copyright (c) mmaims contributors. All rights reserved.
"""Association recall AR@K between two levels (docs/formats.md section 3).

For each image the ``K`` highest-scoring predicted links are kept. A GT pair
``(P, C)`` is recalled at IoU threshold ``t`` when some kept link has
``IoU(parent mask, P) >= t`` and ``IoU(child mask, C) >= t``; one link may
recall several GT pairs. AR@K is the mean over ``t`` of recalled pairs /
GT pairs, pooled over all evaluated images.
"""
from typing import Optional, Sequence

import numpy as np

from .mask_ap import IOU_THRS


def recall_image(parent_ious: np.ndarray,
                 child_ious: np.ndarray,
                 link_parents: Sequence[int],
                 link_children: Sequence[int],
                 link_scores: Sequence[float],
                 gt_pairs: np.ndarray,
                 max_links: int = 100,
                 iou_thrs: np.ndarray = IOU_THRS) -> np.ndarray:
    """Number of GT pairs of one image recalled at each IoU threshold.

    Args:
        parent_ious (np.ndarray): ``Dp x Gp`` IoUs between predicted and GT
            masks of the parent level.
        child_ious (np.ndarray): ``Dc x Gc`` IoUs of the child level.
        link_parents (Sequence[int]): ``L`` rows of ``parent_ious``.
        link_children (Sequence[int]): ``L`` rows of ``child_ious``.
        link_scores (Sequence[float]): ``L`` link scores.
        gt_pairs (np.ndarray): ``M x 2`` int, columns of ``parent_ious`` and
            ``child_ious`` forming each GT pair.
        max_links (int): ``K``, links kept per image (highest scores; equal
            scores keep their input order).
        iou_thrs (np.ndarray): ``T`` IoU thresholds.

    Returns:
        np.ndarray: ``T`` int64, recalled GT pairs at each threshold.
    """
    thrs = np.asarray(iou_thrs, dtype=np.float64)
    gt_pairs = np.asarray(gt_pairs, dtype=np.int64).reshape(-1, 2)
    scores = np.asarray(link_scores, dtype=np.float64).reshape(-1)
    parents = np.asarray(link_parents, dtype=np.int64).reshape(-1)
    children = np.asarray(link_children, dtype=np.int64).reshape(-1)
    if not len(scores) == len(parents) == len(children):
        raise ValueError(f'{len(parents)} link parents, {len(children)} '
                         f'link children and {len(scores)} link scores')
    if len(gt_pairs) == 0 or len(scores) == 0:
        return np.zeros(len(thrs), dtype=np.int64)
    keep = np.argsort(-scores, kind='mergesort')[:max_links]
    # L x M IoUs of each kept link's parent/child with each pair's GT.
    p_iou = parent_ious[parents[keep]][:, gt_pairs[:, 0]]
    c_iou = child_ious[children[keep]][:, gt_pairs[:, 1]]
    # A link recalls a pair at t iff the smaller of its two IoUs is >= t.
    best = np.minimum(p_iou, c_iou).max(axis=0)
    return (best[None, :] >= thrs[:, None]).sum(axis=1).astype(np.int64)


def average_recall(recalled: Sequence[np.ndarray],
                   num_pairs: Sequence[int]) -> Optional[float]:
    """Pool per-image recalls into AR (mean over thresholds).

    Args:
        recalled (Sequence[np.ndarray]): Per image, ``T`` recalled counts
            from :func:`recall_image`.
        num_pairs (Sequence[int]): Per image, number of GT pairs.

    Returns:
        float | None: AR, or None when there is no GT pair at all.
    """
    total = int(sum(num_pairs))
    if total == 0:
        return None
    hits = np.sum(np.stack(list(recalled)), axis=0)
    return float(np.mean(hits / total))
