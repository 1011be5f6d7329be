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
        'prompted': {link_type: {ann_id: {'rles': [...],      # drill-down
                                          'scores': ...}}},   # outputs
        'prompt_masks': {link_type: {ann_id: rle}},   # rough prompts given
    }

Any level or link type may be missing (no prediction). ``prompted`` holds
the output of each drill-down prompt (:mod:`.drill_down`) by link type and
the annotation id of the prompted parent.
"""
from collections import defaultdict
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from mmaims.structures.fields import LINK_TYPES
from mmaims.structures.fields import link_type as link_type_of
from mmaims.structures.levels import LEVELS
from .association_recall import average_recall, recall_image
from .drill_down import (DRILL_SCORINGS, PROMPT_VALUES, drill_key,
                         drill_keys, evaluate_image_prompts,
                         summarize_prompts)
from .ground_truth import FederatedGroundTruth
from .mask_ap import (IOU_THRS, accumulate_precision, average_mask_recall,
                      evaluate_image, mask_ious, summarize_precision)
from .nonoverlap import make_disjoint_rles

#: Per-level AP keys, in output order (``{level}_{key}``).
AP_KEYS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_nonoverlap', 'mAP_nonoverlap_50',
           'mAP_nonoverlap_75')
#: Maximum masks per image and level for AP (COCO's maxDets).
MAX_DETS = 100
#: Links per image and type kept for AR@K.
MAX_LINKS = 100
#: Masks per image, all levels together, for the whole-image recall.
MAX_ALL_LEVELS = 1000
#: Key of the whole-image recall (all levels pooled, class-agnostic).
ALL_LEVELS_AR_KEY = f'AR@{MAX_ALL_LEVELS}'


def ar_key(link_type: str, max_links: int = MAX_LINKS) -> str:
    """Metric key of a link type, e.g. ``'entity_part_AR@100'``."""
    return f'{link_type_of(link_type).key}_AR@{max_links}'


def metric_keys(drill_down: bool = False, tag: str = '') -> List[str]:
    """The keys of docs/formats.md section 3, without prefix or source;
    with ``drill_down``, the drill-down keys too (with ``tag``)."""
    keys = [
        f'{level}_{key}' for level in LEVELS
        for key in AP_KEYS + (f'AR@{MAX_DETS}', )
    ]
    keys += [ar_key(link) for link, _, _ in LINK_TYPES]
    keys.append(ALL_LEVELS_AR_KEY)
    return keys + (drill_keys(tag) if drill_down else [])


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
            RLEs), ``links`` and, for drill-down outputs, ``prompts``
            (masks with a ``prompt_id`` are the output of that prompt).

    Returns:
        dict[int, dict]: Image predictions (see module docstring); with
        ``prompts``, every image that has one has ``prompted``.
    """
    prompts = {p['id']: p for p in predictions.get('prompts', [])}
    masks = defaultdict(lambda: defaultdict(list))
    prompted = defaultdict(lambda: defaultdict(list))
    where = {}
    for m in predictions.get('masks', []):
        if m.get('prompt_id') is not None:
            prompt = prompts[m['prompt_id']]
            key = (prompt['type'], prompt['ann_id'])
            prompted[m['image_id']][key].append(m)
            continue
        per_level = masks[m['image_id']][m['level']]
        where[m['id']] = len(per_level)
        per_level.append(m)
    links = defaultdict(lambda: defaultdict(list))
    for link in predictions.get('links', []):
        links[link['image_id']][link['type']].append(link)
    given = defaultdict(lambda: defaultdict(dict))
    for prompt in prompts.values():
        # a prompt with no mask is an empty output, still an output
        prompted[prompt['image_id']].setdefault(
            (prompt['type'], prompt['ann_id']), [])
        if prompt.get('segmentation') is not None:
            # the prompt the system was given (rough prompts)
            given[prompt['image_id']][prompt['type']][
                prompt['ann_id']] = prompt['segmentation']
    out: Dict[int, dict] = {}
    for img_id in set(masks) | set(links) | set(prompted):
        image = dict(masks={}, links={})
        for level, items in masks.get(img_id, {}).items():
            image['masks'][level] = _level_arrays(items)
        for link_type, items in links.get(img_id, {}).items():
            image['links'][link_type] = dict(
                parents=np.array([where[x['parent_id']] for x in items],
                                 dtype=np.int64),
                children=np.array([where[x['child_id']] for x in items],
                                  dtype=np.int64),
                scores=np.array([x['score'] for x in items], dtype=np.float64))
        if img_id in prompted:
            image['prompted'] = defaultdict(dict)
            for (link_type, ann_id), items in prompted[img_id].items():
                image['prompted'][link_type][ann_id] = _level_arrays(items)
            image['prompted'] = dict(image['prompted'])
        if img_id in given:
            image['prompt_masks'] = dict(given[img_id])
        out[img_id] = image
    return out


def _level_arrays(items: Sequence[dict]) -> dict:
    """``rles``, ``scores`` and ``ids`` of prediction-file masks, and
    ``mask_scores`` when every mask has a ``mask_score``."""
    out = dict(
        rles=[m['segmentation'] for m in items],
        scores=np.array([m['score'] for m in items], dtype=np.float64),
        ids=np.array([m['id'] for m in items], dtype=np.int64))
    if items and all('mask_score' in m for m in items):
        out['mask_scores'] = np.array([m['mask_score'] for m in items],
                                      dtype=np.float64)
    return out


def rescore_predictions(predictions: Dict[int, dict]) -> Dict[int, dict]:
    """Image predictions whose one-step mask scores are multiplied by
    their ``mask_scores`` (re-scoring, as CropFormer's released protocol:
    docs/formats.md section 3).

    Args:
        predictions (dict[int, dict]): Image predictions (module
            docstring), every level's masks with ``mask_scores``.

    Returns:
        dict[int, dict]: New image predictions; a precomputed
        ``nonoverlap`` is dropped (it is recomputed from the new scores).

    Raises:
        ValueError: A level of an image has masks without mask scores.
    """
    out = {}
    for img_id, image in predictions.items():
        image = dict(image, masks=dict(image.get('masks', {})))
        image.pop('nonoverlap', None)
        for level, preds in image['masks'].items():
            if not len(preds['scores']):
                continue
            if preds.get('mask_scores') is None:
                raise ValueError(
                    f'image id {img_id}: re-scoring needs a mask score for '
                    f'every {level} mask (mask_score in the prediction '
                    'file, pred_instances.mask_scores in a data sample); '
                    'this model gives none')
            image['masks'][level] = dict(
                preds,
                scores=np.asarray(preds['scores'], dtype=np.float64) *
                preds['mask_scores'])
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
                       show_progress: bool = False,
                       drill_down: bool = False,
                       prompted: bool = False,
                       drill_down_tag: str = '') -> Dict[str, float]:
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
        drill_down (bool): Also score the drill-down prompts
            (:mod:`.drill_down`): the ``restricted_*`` reference always,
            the ``drill_*`` outputs when ``prompted``.
        prompted (bool): The predictions include drill-down outputs
            (``prompted``); a prompt without one has an empty output.
        drill_down_tag (str): Tag of the prompts' perturbation, put in the
            drill-down keys (``''``: exact prompts).

    Returns:
        dict[str, float]: ``{level}_mAP``, ``{level}_mAP_50``,
        ``{level}_mAP_75``, ``{level}_mAP_nonoverlap`` (with ``_50`` and
        ``_75``: AP^e_50 / AP^e_75 of the entity segmentation papers) and
        ``{level}_AR@100`` for every level, ``AR@1000`` (all levels
        pooled), ``entity_part_AR@{K}`` and ``relation_entity_AR@{K}``,
        with ``drill_down`` the keys of :func:`.drill_down.drill_keys`, and,
        when ``gt`` has more than one source, every key again as
        ``{source}/{key}``. -1 where no image is evaluable (no image lists
        the level(s), or no non-crowd GT / GT pair / prompt on those
        images).

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
    all_levels: Dict[int, Optional[dict]] = {}
    prompt_results: Dict[int, dict] = {}
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
        if image_gt.levels:
            all_levels[img_id] = _match_all_levels(image_gt, preds)
        if drill_down:
            prompt_results[img_id] = evaluate_image_prompts(
                image_gt, preds, prompted, max_dets)

    def summarize(subset: Sequence[int]) -> Dict[str, float]:
        out = _summarize(subset, ap_results, recalls, max_links)
        recall = average_mask_recall(
            [all_levels[i] for i in subset if i in all_levels])
        out[ALL_LEVELS_AR_KEY] = -1.0 if recall is None else recall
        if drill_down:
            out.update(
                summarize_prompts([prompt_results[i] for i in subset],
                                  prompted, drill_down_tag))
        return out

    metrics = summarize(image_ids)
    if len(gt.sources) > 1:
        for source in gt.sources:
            subset = [i for i in image_ids if gt.images[i].source == source]
            for key, value in summarize(subset).items():
                metrics[f'{source}/{key}'] = value
    return metrics


def _match_all_levels(image_gt, preds: dict) -> Optional[dict]:
    """Matches of all predicted masks against all GT masks of the image's
    listed levels, class-agnostic (for ``AR@1000``)."""
    rles, scores, gt_rles, gt_crowd = [], [], [], []
    for level in LEVELS:
        level_preds = preds.get('masks', {}).get(level)
        if level_preds is not None:
            rles += list(level_preds['rles'])
            scores.append(np.asarray(level_preds['scores'], dtype=np.float64))
        if level in image_gt.levels:
            gt_rles += image_gt.masks[level]['rles']
            gt_crowd.append(image_gt.masks[level]['crowd'])
    scores = np.concatenate(scores) if scores else np.zeros(0)
    crowd = np.concatenate(gt_crowd) if gt_crowd else np.zeros(0, dtype=bool)
    return evaluate_image(rles, scores, gt_rles, crowd, MAX_ALL_LEVELS)


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
        for key in ('', '_50', '_75'):
            out[f'{level}_mAP_nonoverlap{key}'] = ap_disjoint[f'mAP{key}']
        recall = average_mask_recall([r[0] for r in per_image])
        out[f'{level}_AR@{MAX_DETS}'] = -1.0 if recall is None else recall
    for link_type, _, _ in LINK_TYPES:
        per_image = [
            recalls[link_type][i] for i in image_ids if i in recalls[link_type]
        ]
        ar = average_recall([r[0] for r in per_image],
                            [r[1] for r in per_image]) if per_image else None
        out[ar_key(link_type, max_links)] = -1.0 if ar is None else ar
    return out


_PLURAL = dict(part='parts', entity='entities', relation='relations')


def _drill_down_table(plain: Dict[str, float], scope: str, title: str,
                      fmt) -> str:
    """The drill-down block of :func:`format_metric_table`."""
    from terminaltables import AsciiTable
    suffix = '_part_prompts'
    tags = [
        k[len(scope) + len('drill_'):-len(suffix)].rstrip('_')
        for k in plain
        if k.startswith(f'{scope}drill_') and k.endswith(suffix)
    ]
    blocks = []
    for tag in tags:
        prompt = f', {tag} prompts' if tag else ''
        rows = [[f'drill-down ({title}{prompt})'] + list(PROMPT_VALUES) +
                [f'restricted {v}' for v in PROMPT_VALUES] +
                ['prompts', 'skipped']]
        for link in LINK_TYPES:
            child = link.child
            counts = [
                plain.get(scope + drill_key('drill', child, key, tag))
                for key in ('prompts', 'skipped')
            ]
            rows.append([f'{link.parent} -> {_PLURAL[child]}'] + [
                fmt(plain.get(scope + drill_key(scoring, child, key, tag)))
                for scoring in DRILL_SCORINGS for key in PROMPT_VALUES
            ] + ['-' if c is None else str(int(c)) for c in counts])
        blocks.append(AsciiTable(rows).table)
    return '\n'.join(blocks)


def format_metric_table(metrics: Dict[str, float], prefix: str = '') -> str:
    """Readable tables (levels x metrics; associations and the whole-image
    recall; drill-down when its keys are present), one block per scope: all
    images first, then each source. Values in percent; ``n/a``
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
    level_keys = list(AP_KEYS) + [f'AR@{MAX_DETS}']
    blocks = []
    for title, scope in scopes:
        rows = [['level'] + level_keys]
        for level in LEVELS:
            rows.append([level] + [
                fmt(plain.get(f'{scope}{level}_{key}')) for key in level_keys
            ])
        ap_table = AsciiTable(rows, title=f'mask AP ({title})')
        # The title goes in the header: terminaltables drops titles wider
        # than the table.
        ar_rows = [[f'association ({title})', f'AR@{MAX_LINKS}']]
        for link_type, _, _ in LINK_TYPES:
            ar_rows.append(
                [link_type,
                 fmt(plain.get(f'{scope}{ar_key(link_type)}'))])
        ar_rows.append([
            'all levels, all masks', f'{ALL_LEVELS_AR_KEY}: ' +
            fmt(plain.get(f'{scope}{ALL_LEVELS_AR_KEY}'))
        ])
        ar_table = AsciiTable(ar_rows)
        block = ap_table.table + '\n' + ar_table.table
        if any(
                k.startswith(f'{scope}drill_') and k.endswith('_prompts')
                for k in plain):
            block += '\n' + _drill_down_table(plain, scope, title, fmt)
        blocks.append(block)
    return '\n'.join(blocks)
