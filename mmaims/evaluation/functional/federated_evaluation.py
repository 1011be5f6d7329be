# Copyright (c) mmaims contributors. All rights reserved.
"""Federated, class-agnostic AIMS evaluation (docs/formats.md section 3).

Shared by :class:`mmaims.evaluation.FederatedMetric`,
``tools/analysis_tools/eval_predictions.py`` and
``tools/analysis_tools/benchmark_metric.py``.

Predictions of one image are held as an "image predictions" dict::

    {
        'masks': {level: {'rles': [rle, ...],        # N compressed RLEs
                          'scores': np.ndarray,      # N float64
                          'ids': np.ndarray}},       # N int64, tie-breaks
        'nonoverlap': {level: {'rles': [...],        # optional, computed
                               'scores': ...}},      # from 'masks' if absent
        'links': {link_type: {'parents': np.ndarray,   # L int64 rows into the
                              'children': np.ndarray,  # parent / child
                              'scores': np.ndarray}},  # level's masks
    }

Any level or link type may be missing (no prediction).
"""
from collections import defaultdict
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from mmaims.structures.fields import LINK_TYPES
from mmaims.structures.fields import link_type as link_type_of
from mmaims.structures.levels import LEVELS
from .association_recall import average_recall, recall_image
from .ground_truth import FederatedGroundTruth
from .mask_ap import (IOU_THRS, accumulate_precision, evaluate_image,
                      mask_ious, summarize_precision)
from .nonoverlap import make_disjoint_rles

#: Per-level AP keys, in output order (``{level}_{key}``).
AP_KEYS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_nonoverlap')
#: Maximum masks per image and level for AP (COCO's maxDets).
MAX_DETS = 100
#: Links per image and type kept for AR@K.
MAX_LINKS = 100


def ar_key(link_type: str, max_links: int = MAX_LINKS) -> str:
    """Metric key of a link type, e.g. ``'entity_part_AR@100'``."""
    return f'{link_type_of(link_type).key}_AR@{max_links}'


def metric_keys() -> List[str]:
    """The keys of docs/formats.md section 3, without prefix or source."""
    keys = [f'{level}_{key}' for level in LEVELS for key in AP_KEYS]
    return keys + [ar_key(link) for link, _, _ in LINK_TYPES]


def _empty_level() -> dict:
    return dict(
        rles=[],
        scores=np.zeros(0, dtype=np.float64),
        ids=np.zeros(0, dtype=np.int64))


def group_predictions(predictions: dict) -> Dict[int, dict]:
    """Turn a prediction file dict (docs/formats.md section 2) into image
    predictions keyed by image id.

    Masks keep their file order within an image and level (it breaks score
    ties); mask ids break non-overlap ties. Call
    :func:`mmaims.structures.validate_predictions` (or use
    :func:`mmaims.structures.load_predictions`) first: this function
    assumes ids, levels and link types are valid.

    Args:
        predictions (dict): ``masks`` (segmentations already compressed
            RLEs) and ``links``.

    Returns:
        dict[int, dict]: Image predictions (see module docstring).
    """
    masks = defaultdict(lambda: defaultdict(list))
    where = {}
    for m in predictions.get('masks', []):
        per_level = masks[m['image_id']][m['level']]
        where[m['id']] = len(per_level)
        per_level.append(m)
    links = defaultdict(lambda: defaultdict(list))
    for link in predictions.get('links', []):
        links[link['image_id']][link['type']].append(link)
    out: Dict[int, dict] = {}
    for img_id in set(masks) | set(links):
        image = dict(masks={}, links={})
        for level, items in masks.get(img_id, {}).items():
            image['masks'][level] = dict(
                rles=[m['segmentation'] for m in items],
                scores=np.array([m['score'] for m in items], dtype=np.float64),
                ids=np.array([m['id'] for m in items], dtype=np.int64))
        for link_type, items in links.get(img_id, {}).items():
            image['links'][link_type] = dict(
                parents=np.array([where[x['parent_id']] for x in items],
                                 dtype=np.int64),
                children=np.array([where[x['child_id']] for x in items],
                                  dtype=np.int64),
                scores=np.array([x['score'] for x in items], dtype=np.float64))
        out[img_id] = image
    return out


def _check_image(image_gt, preds: dict) -> None:
    size = [image_gt.height, image_gt.width]
    for level, level_preds in preds.get('masks', {}).items():
        if level not in LEVELS:
            raise ValueError(f'image id {image_gt.id}: predictions of '
                             f'unknown level "{level}"')
        if len(level_preds['rles']) != len(level_preds['scores']):
            raise ValueError(f'image id {image_gt.id}, level {level}: '
                             f'{len(level_preds["rles"])} masks but '
                             f'{len(level_preds["scores"])} scores')
        for rle in level_preds['rles']:
            if list(rle['size']) != size:
                raise ValueError(f'image id {image_gt.id}, level {level}: '
                                 f'predicted mask of size {rle["size"]}, '
                                 f'the image is {size}')
    for link_type, parent, child in LINK_TYPES:
        link = preds.get('links', {}).get(link_type)
        if link is None:
            continue
        for role, level in (('parents', parent), ('children', child)):
            num = len(
                preds.get('masks', {}).get(level, _empty_level())['rles'])
            rows = np.asarray(link[role])
            bad = rows[(rows < 0) | (rows >= num)]
            if len(bad):
                raise ValueError(
                    f'image id {image_gt.id}: a link of type "{link_type}" '
                    f'points at {level} row {int(bad[0])} but the image '
                    f'has {num} {level} predictions')


def evaluate_federated(gt: FederatedGroundTruth,
                       predictions: Dict[int, dict],
                       image_ids: Optional[Iterable[int]] = None,
                       max_dets: int = MAX_DETS,
                       max_links: int = MAX_LINKS,
                       show_progress: bool = False) -> Dict[str, float]:
    """Compute every metric of docs/formats.md section 3.

    Args:
        gt (FederatedGroundTruth): The ground truth.
        predictions (dict[int, dict]): Image predictions by image id (see
            module docstring). Images without an entry have no prediction.
        image_ids (Iterable[int], optional): Images to evaluate. Defaults to
            every image of ``gt``.
        max_dets (int): Masks per image and level for AP.
        max_links (int): Links per image and type for AR@K.
        show_progress (bool): Show a progress bar over images.

    Returns:
        dict[str, float]: ``{level}_mAP``, ``{level}_mAP_50``,
        ``{level}_mAP_75``, ``{level}_mAP_nonoverlap`` for every level,
        ``entity_part_AR@{K}`` and ``relation_entity_AR@{K}``, and, when
        ``gt`` has more than one source, every key again as
        ``{source}/{key}``. -1 where no image is evaluable (no image lists
        the level(s), or no non-crowd GT / GT pair on those images).

    Raises:
        ValueError: If an image id is not in ``gt`` or predictions do not
            fit their image.
    """
    image_ids = sorted(set(gt.image_ids if image_ids is None else image_ids))
    unknown = sorted(set(image_ids) - set(gt.images)) + sorted(
        set(predictions) - set(gt.images))
    if unknown:
        raise ValueError(f'image ids {unknown[:10]} are not in the ground '
                         f'truth {gt.file_name}')
    ap_results: Dict[str, Dict[int, tuple]] = {lv: {} for lv in LEVELS}
    recalls: Dict[str, Dict[int, tuple]] = {t: {} for t, _, _ in LINK_TYPES}
    iterator: Iterable[int] = image_ids
    if show_progress and image_ids:
        # tqdm redraws at most once a second, so a log file that is not a
        # terminal gets a few lines, not one per image
        from tqdm import tqdm
        iterator = tqdm(
            image_ids, desc='FederatedMetric', unit='img', mininterval=1.0)
    for img_id in iterator:
        image_gt = gt.images[img_id]
        preds = predictions.get(img_id, {})
        _check_image(image_gt, preds)
        for level in LEVELS:
            if level in image_gt.levels:
                ap_results[level][img_id] = _evaluate_level(
                    image_gt, preds, level, max_dets)
        for link_type, parent, child in LINK_TYPES:
            if parent in image_gt.levels and child in image_gt.levels:
                recalls[link_type][img_id] = _recall_links(
                    image_gt, preds, link_type, parent, child, max_links)

    metrics = _summarize(image_ids, ap_results, recalls, max_links)
    if len(gt.sources) > 1:
        for source in gt.sources:
            subset = [i for i in image_ids if gt.images[i].source == source]
            for key, value in _summarize(subset, ap_results, recalls,
                                         max_links).items():
                metrics[f'{source}/{key}'] = value
    return metrics


def _evaluate_level(image_gt, preds: dict, level: str, max_dets: int) -> tuple:
    gt_masks = image_gt.masks[level]
    level_preds = preds.get('masks', {}).get(level, _empty_level())
    result = evaluate_image(level_preds['rles'], level_preds['scores'],
                            gt_masks['rles'], gt_masks['crowd'], max_dets)
    disjoint = preds.get('nonoverlap', {}).get(level)
    if disjoint is None:
        keep, rles = make_disjoint_rles(level_preds['rles'],
                                        level_preds['scores'],
                                        level_preds.get('ids'))
        disjoint = dict(
            rles=rles, scores=np.asarray(level_preds['scores'])[keep])
    result_disjoint = evaluate_image(disjoint['rles'], disjoint['scores'],
                                     gt_masks['rles'], gt_masks['crowd'],
                                     max_dets)
    return result, result_disjoint


def _recall_links(image_gt, preds: dict, link_type: str, parent: str,
                  child: str, max_links: int) -> tuple:
    pairs = image_gt.pairs[link_type]
    link = preds.get('links', {}).get(link_type)
    num_thrs = len(IOU_THRS)
    if len(pairs) == 0 or link is None or len(link['scores']) == 0:
        return np.zeros(num_thrs, dtype=np.int64), len(pairs)
    ious = {}
    for level in (parent, child):
        level_preds = preds.get('masks', {}).get(level, _empty_level())
        ious[level] = mask_ious(level_preds['rles'],
                                image_gt.masks[level]['rles'])
    recalled = recall_image(ious[parent], ious[child], link['parents'],
                            link['children'], link['scores'], pairs, max_links)
    return recalled, len(pairs)


def _summarize(image_ids: Sequence[int], ap_results: dict, recalls: dict,
               max_links: int) -> Dict[str, float]:
    out: Dict[str, float] = {}
    for level in LEVELS:
        per_image = [
            ap_results[level][i] for i in image_ids if i in ap_results[level]
        ]
        if per_image:
            ap = summarize_precision(
                accumulate_precision([r[0] for r in per_image]))
            ap_disjoint = summarize_precision(
                accumulate_precision([r[1] for r in per_image]))
        else:
            ap = summarize_precision(None)
            ap_disjoint = ap
        for key in ('mAP', 'mAP_50', 'mAP_75'):
            out[f'{level}_{key}'] = ap[key]
        out[f'{level}_mAP_nonoverlap'] = ap_disjoint['mAP']
    for link_type, _, _ in LINK_TYPES:
        per_image = [
            recalls[link_type][i] for i in image_ids if i in recalls[link_type]
        ]
        ar = average_recall([r[0] for r in per_image],
                            [r[1] for r in per_image]) if per_image else None
        out[ar_key(link_type, max_links)] = -1.0 if ar is None else ar
    return out


def format_metric_table(metrics: Dict[str, float], prefix: str = '') -> str:
    """Readable tables (levels x metrics, then associations), one per
    scope: all images first, then each source. Values in percent; ``n/a``
    for -1 (nothing evaluable).

    Args:
        metrics (dict[str, float]): Output of :func:`evaluate_federated`,
            optionally with ``prefix`` on every key.
        prefix (str): Key prefix to strip, e.g. ``'aims/'``.
    """
    from terminaltables import AsciiTable

    def fmt(value: Optional[float]) -> str:
        if value is None:
            return '-'
        return 'n/a' if value < 0 else f'{100 * value:.2f}'

    plain = {
        k[len(prefix):] if k.startswith(prefix) else k: v
        for k, v in metrics.items()
    }
    scopes = [('all images', '')]
    sources = sorted({k.split('/')[0] for k in plain if '/' in k})
    scopes += [(f'source {s}', f'{s}/') for s in sources]
    blocks = []
    for title, scope in scopes:
        rows = [['level'] + list(AP_KEYS)]
        for level in LEVELS:
            rows.append(
                [level] +
                [fmt(plain.get(f'{scope}{level}_{key}')) for key in AP_KEYS])
        ap_table = AsciiTable(rows, title=f'mask AP ({title})')
        # The title goes in the header: terminaltables drops titles wider
        # than the table.
        ar_rows = [[f'association ({title})', f'AR@{MAX_LINKS}']]
        for link_type, _, _ in LINK_TYPES:
            ar_rows.append(
                [link_type,
                 fmt(plain.get(f'{scope}{ar_key(link_type)}'))])
        ar_table = AsciiTable(ar_rows)
        blocks.append(ap_table.table + '\n' + ar_table.table)
    return '\n'.join(blocks)
