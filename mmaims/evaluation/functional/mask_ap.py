# Copyright (c) mmaims contributors. All rights reserved.
"""Class-agnostic COCO mask AP, equal to pycocotools' ``COCOeval``.

The functions here reproduce ``COCOeval(iouType='segm')`` with
``params.useCats = 0``, area range ``'all'`` and ``maxDets=100``, including
its tie-breaking:

* detections of an image are ordered by score with a stable mergesort (so
  equal scores keep their input order) and cut to ``max_dets``;
* ground truths are ordered with crowd (ignore) ones last, stable;
* a detection matches the unmatched non-crowd GT of highest IoU
  (``>= t``; on equal IoU the later GT wins); only when there is none may it
  match a crowd GT (which may be matched any number of times), and then it
  is ignored rather than counted;
* the detections of all images (in ascending image id order) are pooled,
  sorted again with a stable mergesort, and precision is interpolated at
  101 recall points.

Only one area range and one ``maxDets`` are evaluated, and the greedy
matching is vectorised over the IoU thresholds, which is where the speed-up
over ``COCOeval`` comes from.
"""
from typing import Dict, Optional, Sequence

import numpy as np
import pycocotools.mask as mask_util

#: IoU thresholds 0.50:0.05:0.95, computed exactly as ``COCOeval`` does.
IOU_THRS = np.linspace(
    .5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
#: Recall thresholds 0:0.01:1, computed exactly as ``COCOeval`` does.
REC_THRS = np.linspace(
    .0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)


def mask_ious(dt_rles: Sequence[dict],
              gt_rles: Sequence[dict],
              gt_crowd: Optional[Sequence[bool]] = None) -> np.ndarray:
    """IoU between detections and ground truths (crowd-aware, as COCO).

    For a crowd GT the "IoU" is ``|d & g| / |d|``, as in ``COCOeval``.

    Args:
        dt_rles (Sequence[dict]): ``D`` compressed RLEs (str or bytes counts).
        gt_rles (Sequence[dict]): ``G`` compressed RLEs of the same size.
        gt_crowd (Sequence[bool], optional): ``G`` crowd flags. Defaults to
            all False.

    Returns:
        np.ndarray: ``D x G`` float64 IoUs (``D x 0`` or ``0 x G`` when one
        side is empty).
    """
    num_dt, num_gt = len(dt_rles), len(gt_rles)
    if num_dt == 0 or num_gt == 0:
        return np.zeros((num_dt, num_gt), dtype=np.float64)
    if gt_crowd is None:
        crowd = [0] * num_gt
    else:
        crowd = [int(c) for c in gt_crowd]
    # pycocotools reads str and bytes counts alike
    ious = mask_util.iou(list(dt_rles), list(gt_rles), crowd)
    return np.asarray(ious, dtype=np.float64).reshape(num_dt, num_gt)


def match_detections(ious: np.ndarray,
                     gt_crowd: np.ndarray,
                     iou_thrs: np.ndarray = IOU_THRS) -> tuple:
    """Greedy COCO matching of one image at every IoU threshold at once.

    Args:
        ious (np.ndarray): ``D x G`` IoUs, detections sorted by descending
            score, GTs with crowd ones last (see :func:`evaluate_image`).
        gt_crowd (np.ndarray): ``G`` bool, crowd (= ignored) GTs. They must
            come after every non-crowd GT.
        iou_thrs (np.ndarray): ``T`` IoU thresholds.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``dt_matched`` (``T x D`` bool, the
        detection matched a GT) and ``dt_ignore`` (``T x D`` bool, the
        matched GT is a crowd region, so the detection is neither TP nor FP).
    """
    num_thrs = len(iou_thrs)
    num_dt, num_gt = ious.shape
    dt_matched = np.zeros((num_thrs, num_dt), dtype=bool)
    dt_ignore = np.zeros((num_thrs, num_dt), dtype=bool)
    if num_dt == 0 or num_gt == 0:
        return dt_matched, dt_ignore
    thrs = np.minimum(np.asarray(iou_thrs, dtype=np.float64), 1 - 1e-10)
    min_thr = thrs.min()
    gt_crowd = np.asarray(gt_crowd, dtype=bool)
    gt_taken = np.zeros((num_thrs, num_gt), dtype=bool)
    rows = np.arange(num_thrs)
    # Only GTs reachable at the lowest threshold can ever be matched.
    reachable = ious >= min_thr
    # A detection that reaches exactly one non-crowd GT, reached by no other
    # detection, competes with nobody: it matches that GT exactly at the
    # thresholds its IoU reaches. Most detections are such; only the rest
    # go through the greedy loop (the two sets share no GT).
    per_dt = reachable.sum(axis=1)
    per_gt = reachable.sum(axis=0)
    only_gt = np.argmax(reachable, axis=1)
    alone = (per_dt == 1) & (per_gt[only_gt] == 1) & ~gt_crowd[only_gt]
    alone_dt = np.flatnonzero(alone)
    if len(alone_dt):
        dt_matched[:, alone_dt] = ious[alone_dt, only_gt[alone_dt]][
            None, :] >= thrs[:, None]
    contested = (per_dt > 0) & ~alone
    for d in np.flatnonzero(contested):
        cand = np.flatnonzero(reachable[d])
        vals = ious[d, cand]
        crowd = gt_crowd[cand]
        eligible = (vals[None, :] >= thrs[:, None]) & ~(
            gt_taken[:, cand] & ~crowd[None, :])
        best = _last_argmax(np.where(eligible & ~crowd[None, :], vals, -1.0))
        # A crowd GT is a fallback only: COCOeval stops scanning at the
        # first crowd GT once a non-crowd match exists.
        fallback = best < 0
        if fallback.any():
            crowd_best = _last_argmax(
                np.where(eligible & crowd[None, :], vals, -1.0))
            best = np.where(fallback, crowd_best, best)
        hit = best >= 0
        if not hit.any():
            continue
        chosen = cand[best[hit]]
        dt_matched[hit, d] = True
        dt_ignore[hit, d] = gt_crowd[chosen]
        gt_taken[rows[hit], chosen] = True
    return dt_matched, dt_ignore


def _last_argmax(values: np.ndarray) -> np.ndarray:
    """Per row, the last column holding the row maximum, -1 if all < 0."""
    flipped = values[:, ::-1]
    idx = values.shape[1] - 1 - np.argmax(flipped, axis=1)
    idx[values.max(axis=1) < 0] = -1
    return idx


def evaluate_image(dt_rles: Sequence[dict],
                   dt_scores: Sequence[float],
                   gt_rles: Sequence[dict],
                   gt_crowd: Sequence[bool],
                   max_dets: int = 100,
                   iou_thrs: np.ndarray = IOU_THRS) -> Optional[dict]:
    """Match the detections of one image to its GT, as ``evaluateImg``.

    Args:
        dt_rles (Sequence[dict]): ``D`` predicted masks (compressed RLE).
        dt_scores (Sequence[float]): ``D`` scores.
        gt_rles (Sequence[dict]): ``G`` GT masks (compressed RLE).
        gt_crowd (Sequence[bool]): ``G`` crowd flags.
        max_dets (int): Keep the ``max_dets`` highest-scoring detections.
        iou_thrs (np.ndarray): ``T`` IoU thresholds.

    Returns:
        dict | None: None when the image has neither GT nor detections (it
        does not take part, as in ``COCOeval``), else ``scores``
        (``D'`` float64, sorted descending), ``tp`` and ``fp`` (``T x D'``
        bool) and ``num_gt`` (number of non-crowd GTs).
    """
    scores = np.asarray(dt_scores, dtype=np.float64).reshape(-1)
    if len(scores) != len(dt_rles):
        raise ValueError(f'{len(dt_rles)} masks but {len(scores)} scores')
    crowd = np.asarray(gt_crowd, dtype=bool).reshape(-1)
    if len(crowd) != len(gt_rles):
        raise ValueError(f'{len(gt_rles)} GT masks but {len(crowd)} crowd '
                         'flags')
    if len(scores) == 0 and len(crowd) == 0:
        return None
    dt_order = np.argsort(-scores, kind='mergesort')[:max_dets]
    gt_order = np.argsort(crowd, kind='mergesort')
    ious = mask_ious([dt_rles[i] for i in dt_order],
                     [gt_rles[i] for i in gt_order], crowd[gt_order])
    matched, ignore = match_detections(ious, crowd[gt_order], iou_thrs)
    return dict(
        scores=scores[dt_order],
        tp=matched & ~ignore,
        fp=~matched & ~ignore,
        num_gt=int((~crowd).sum()))


def accumulate_precision(
        image_results: Sequence[Optional[dict]],
        num_thrs: int = len(IOU_THRS),
        rec_thrs: np.ndarray = REC_THRS) -> Optional[np.ndarray]:
    """Pool per-image matches into interpolated precision, as ``accumulate``.

    Args:
        image_results (Sequence[dict | None]): Outputs of
            :func:`evaluate_image`, in ascending image id order (the order
            breaks score ties across images, as in ``COCOeval``).
        num_thrs (int): Number of IoU thresholds ``T``.
        rec_thrs (np.ndarray): ``R`` recall thresholds.

    Returns:
        np.ndarray | None: ``T x R`` precision, or None when there is no
        non-crowd GT in any image (``COCOeval`` then reports -1).
    """
    results = [r for r in image_results if r is not None]
    num_gt = sum(r['num_gt'] for r in results)
    if not results or num_gt == 0:
        return None
    scores = np.concatenate([r['scores'] for r in results])
    order = np.argsort(-scores, kind='mergesort')
    tp = np.concatenate([r['tp'] for r in results], axis=1)[:, order]
    fp = np.concatenate([r['fp'] for r in results], axis=1)[:, order]
    tp_sum = np.cumsum(tp, axis=1).astype(np.float64)
    fp_sum = np.cumsum(fp, axis=1).astype(np.float64)
    precision = np.zeros((num_thrs, len(rec_thrs)), dtype=np.float64)
    if tp.shape[1] == 0:
        return precision
    recall = tp_sum / num_gt
    prec = tp_sum / (fp_sum + tp_sum + np.spacing(1))
    # Monotone envelope from the right (COCOeval's backwards loop).
    prec = np.maximum.accumulate(prec[:, ::-1], axis=1)[:, ::-1]
    num_dt = tp.shape[1]
    for t in range(num_thrs):
        inds = np.searchsorted(recall[t], rec_thrs, side='left')
        valid = inds < num_dt
        # COCOeval fills recall points beyond the reached recall with 0.
        precision[t, :valid.sum()] = prec[t, inds[valid]]
    return precision


def summarize_precision(precision: Optional[np.ndarray],
                        iou_thrs: np.ndarray = IOU_THRS) -> Dict[str, float]:
    """mAP, mAP_50 and mAP_75 from a ``T x R`` precision, -1 if None.

    Returns:
        dict: ``mAP`` (mean over all thresholds and recall points),
        ``mAP_50`` and ``mAP_75`` (IoU 0.5 / 0.75 only).
    """
    if precision is None:
        return dict(mAP=-1.0, mAP_50=-1.0, mAP_75=-1.0)
    out = dict(mAP=float(np.mean(precision)))
    for name, thr in (('mAP_50', .5), ('mAP_75', .75)):
        t = np.where(thr == iou_thrs)[0]
        out[name] = float(np.mean(precision[t]))
    return out


def average_mask_recall(
        image_results: Sequence[Optional[dict]]) -> Optional[float]:
    """COCO's AR at ``max_dets`` from per-image matches, as ``COCOeval``'s
    ``AR@100`` (area ``'all'``).

    The recall at each IoU threshold is the number of matched non-crowd GTs
    over the number of non-crowd GTs, pooled over images; AR is its mean
    over the thresholds.

    Args:
        image_results (Sequence[dict | None]): Outputs of
            :func:`evaluate_image` (with the ``max_dets`` of the AR).

    Returns:
        float | None: AR, or None when there is no non-crowd GT.
    """
    results = [r for r in image_results if r is not None]
    num_gt = sum(r['num_gt'] for r in results)
    if num_gt == 0:
        return None
    hits = sum(r['tp'].sum(axis=1) for r in results)
    return float(np.mean(hits / num_gt))
