# Copyright (c) mmaims contributors. All rights reserved.
"""Drill-down metrics (docs/formats.md section 3, "Drill-down").

Every drill-down prompt of the ground truth
(:func:`mmaims.structures.drill_down_prompts`) is scored twice against its
targets (the entity's parts, the relation's two entities), as if it were an
image of its own:

- ``drill``: the masks the model predicted on that prompt (the prompted
  decoder's output);
- ``restricted``, the reference: the one-step predictions of the child
  level of which at least half lies inside the prompt
  (``|mask & prompt| / |mask| >= 0.5``), with their one-step scores. This is
  what filtering the one-step output gives, without any prompt inference.

Per prompt: COCO mask AP (at most 100 masks, crowd targets as ignore),
AR@100 (matched targets / targets, mean over IoU 0.50:0.05:0.95) and
R@0.75 (matched targets / targets at IoU 0.75). The reported value is the
mean over prompts.

With rough prompts (``LoadDrillDownPrompts(perturbation=...)``) the
prompt is what the model was given: the samples (and prediction files)
carry it, the reference is restricted to it, and every key carries the
perturbation's tag (``drill_box_part_mAP``, ``restricted_dilate3_...``).
"""
from typing import Dict, List, Sequence

import numpy as np

from mmaims.structures.fields import LINK_TYPES
from mmaims.structures.prompt_geometry import INSIDE_FRACTION
from .mask_ap import (IOU_THRS, accumulate_precision, average_mask_recall,
                      evaluate_image, mask_ious, summarize_precision)

#: The two ways a prompt is scored (key prefixes).
DRILL_SCORINGS = ('drill', 'restricted')


#: per-prompt values, in key order
PROMPT_VALUES = ('mAP', 'AR@100', 'R@0.75')


def drill_key(scoring: str, child: str, value: str, tag: str = '') -> str:
    """``{scoring}_{child}_{value}``, with ``{tag}_`` after the scoring for
    rough prompts: ``drill_part_mAP``, ``restricted_box_entity_R@0.75``."""
    return f'{scoring}_{tag + "_" if tag else ""}{child}_{value}'


def drill_keys(tag: str = '') -> List[str]:
    """Drill-down keys, without prefix or source."""
    keys = []
    for link in LINK_TYPES:
        for scoring in DRILL_SCORINGS:
            keys += [
                drill_key(scoring, link.child, value, tag)
                for value in PROMPT_VALUES
            ]
        keys += [
            drill_key('drill', link.child, 'prompts', tag),
            drill_key('drill', link.child, 'skipped', tag)
        ]
    return keys


def score_prompt(rles: Sequence[dict], scores: Sequence[float],
                 target_rles: Sequence[dict], target_crowd: Sequence[bool],
                 max_dets: int) -> tuple:
    """AP and AR of one prompt's masks against its targets.

    Returns:
        tuple[float, float, float]: AP (mean over IoU thresholds and recall
        points), AR@``max_dets`` and the recall at IoU 0.75; 0, 0 and 0 for
        an empty output.
    """
    result = evaluate_image(rles, scores, target_rles, target_crowd, max_dets)
    ap = summarize_precision(accumulate_precision([result]))['mAP']
    ar = average_mask_recall([result])
    at_75 = np.flatnonzero(np.isclose(IOU_THRS, 0.75))[0]
    r75 = float(result['tp'][at_75].sum() / result['num_gt'])
    return ap, ar, r75


def inside_prompt(rles: Sequence[dict], prompt_rle: dict) -> np.ndarray:
    """Which masks lie at least :data:`INSIDE_FRACTION` inside the prompt.

    Returns:
        np.ndarray: ``N`` bool.
    """
    if len(rles) == 0:
        return np.zeros(0, dtype=bool)
    # COCO's crowd IoU of a mask with a region is |mask & region| / |mask|
    fraction = mask_ious(rles, [prompt_rle], [True])[:, 0]
    return fraction >= INSIDE_FRACTION


def evaluate_image_prompts(image_gt, preds: dict, prompted: bool,
                           max_dets: int) -> Dict[str, dict]:
    """Score every drill-down prompt of one image.

    Args:
        image_gt (ImageGroundTruth): The image's ground truth.
        preds (dict): Image predictions (see
            :mod:`.federated_evaluation`); ``preds['prompted'][link type]
            [parent ann id]`` holds ``rles`` and ``scores`` of one prompt's
            output, ``preds['prompt_masks'][link type][parent ann id]`` the
            prompt the model was given when it is not the exact one.
        prompted (bool): Whether the predictions include drill-down
            outputs; a prompt without one then has an empty output. False:
            only the reference is scored.
        max_dets (int): Masks per prompt for AP and AR.

    Returns:
        dict[str, dict]: Per link type name, ``drill`` and ``restricted``
        (lists of ``(AP, AR, R@0.75)``, one per prompt; ``drill`` empty
        when not ``prompted``) and ``skipped`` (number of candidates not
        scored).
    """
    out = {}
    for link in LINK_TYPES:
        child_gt = image_gt.masks[link.child]
        child_preds = preds.get('masks', {}).get(link.child)
        outputs = preds.get('prompted', {}).get(link.name, {})
        given = preds.get('prompt_masks', {}).get(link.name, {})
        _check_outputs(image_gt, link, outputs)
        drill, restricted = [], []
        for ann_id, prompt in image_gt.prompts[link.name].items():
            targets = prompt['targets']
            target_rles = [child_gt['rles'][i] for i in targets]
            target_crowd = child_gt['crowd'][targets]
            if prompted:
                output = outputs.get(ann_id)
                rles = output['rles'] if output else []
                scores = output['scores'] if output else []
                drill.append(
                    score_prompt(rles, scores, target_rles, target_crowd,
                                 max_dets))
            rles, scores = [], np.zeros(0)
            if child_preds is not None and len(child_preds['rles']):
                keep = np.flatnonzero(
                    inside_prompt(child_preds['rles'],
                                  given.get(ann_id, prompt['rle'])))
                rles = [child_preds['rles'][i] for i in keep]
                scores = np.asarray(child_preds['scores'])[keep]
            restricted.append(
                score_prompt(rles, scores, target_rles, target_crowd,
                             max_dets))
        out[link.name] = dict(
            drill=drill,
            restricted=restricted,
            skipped=sum(image_gt.prompts_skipped[link.name].values()))
    return out


def _check_outputs(image_gt, link, outputs: dict) -> None:
    """Raise if a drill-down output names no annotation of the prompted
    level; outputs on skipped candidates are left unscored."""
    parents = set(image_gt.masks[link.parent]['ann_ids'].tolist())
    for ann_id in outputs:
        if ann_id not in parents:
            raise ValueError(
                f'image id {image_gt.id}: a "{link.name}" drill-down output '
                f'names annotation id {ann_id}, which is not a {link.parent} '
                'annotation of this image')


def summarize_prompts(per_image: Sequence[Dict[str, dict]],
                      prompted: bool,
                      tag: str = '') -> Dict[str, float]:
    """Mean AP, AR and R@0.75 over the prompts of the given images.

    Args:
        per_image (Sequence[dict]): Outputs of
            :func:`evaluate_image_prompts`.
        prompted (bool): Whether drill-down outputs were scored; False:
            the ``drill_*`` values are -1.
        tag (str): Tag of the prompts' perturbation (``''``: exact).

    Returns:
        dict[str, float]: The keys of :func:`drill_keys`; -1 where no prompt
        was scored.
    """
    out: Dict[str, float] = {}
    for link in LINK_TYPES:
        results = [image[link.name] for image in per_image]
        for scoring in DRILL_SCORINGS:
            values = [v for r in results for v in r[scoring]]
            evaluated = (scoring == 'restricted' or prompted) and values
            means = np.asarray(values, dtype=np.float64).mean(
                axis=0) if evaluated else [-1.0] * len(PROMPT_VALUES)
            for name, mean in zip(PROMPT_VALUES, means):
                out[drill_key(scoring, link.child, name, tag)] = float(mean)
        out[drill_key('drill', link.child, 'prompts', tag)] = float(
            sum(len(r['restricted']) for r in results))
        out[drill_key('drill', link.child, 'skipped', tag)] = float(
            sum(r['skipped'] for r in results))
    return out
