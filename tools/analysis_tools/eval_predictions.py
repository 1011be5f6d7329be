# Copyright (c) mmaims contributors. All rights reserved.
"""Score a prediction file against a hierarchical COCO annotation file.

    python tools/analysis_tools/eval_predictions.py GT.json PRED.json \
        [--out metrics.json] [--rescore]

``GT.json`` is docs/formats.md section 1, ``PRED.json`` section 2 (what
``tools/test.py --out`` writes, or any other system's masks, e.g. Segment
Anything, written in that format). Every image of ``GT.json`` is evaluated;
an image without predictions counts as predicting nothing. The metric table
is printed and, with ``--out``, the metric dict (keys ``aims/...``,
unrounded fractions) is written as JSON. ``--rescore`` multiplies every
one-step mask's ``score`` by its ``mask_score`` first (CropFormer's released
protocol, docs/formats.md section 3).

Drill-down (docs/formats.md section 3) is scored too, unless
``--no-drill-down``: the one-step reference (``restricted_*``) always, and
the ``drill_*`` keys when the file has a ``prompts`` list (a prompt of the
ground truth without an entry there then counts as an empty output). To
score another system's drill-down, give it each prompt that
``--list-prompts`` writes and store its masks with the prompt's ``type``
and ``ann_id`` (docs/formats.md section 2)::

    python tools/analysis_tools/eval_predictions.py GT.json \
        --list-prompts prompts.json
"""
import argparse
import os.path as osp
import sys

from mmaims.evaluation.functional import (FederatedGroundTruth,
                                          evaluate_federated,
                                          format_metric_table,
                                          group_predictions,
                                          rescore_predictions)
from mmaims.structures import DRILL_DOWN_PROMPT_TYPES, load_predictions
from mmaims.utils.file_io import dump_json

PREFIX = 'aims/'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Federated AIMS evaluation of a prediction file')
    parser.add_argument(
        'gt', help='annotation file (docs/formats.md section 1)')
    parser.add_argument(
        'pred',
        nargs='?',
        help='prediction file (docs/formats.md section 2)')
    parser.add_argument(
        '--list-prompts',
        metavar='OUT',
        help='write the drill-down prompts of GT.json (the "prompts" entries '
        'of a prediction file, each with its prompt mask as "segmentation") '
        'to OUT and stop')
    parser.add_argument('--out', help='write the metric dict to this JSON')
    parser.add_argument(
        '--no-drill-down',
        action='store_true',
        help='skip the drill-down keys')
    parser.add_argument(
        '--rescore',
        action='store_true',
        help='multiply each mask score by its "mask_score" (every one-step '
        'mask needs one) before scoring')
    parser.add_argument(
        '--no-progress', action='store_true', help='hide the progress bar')
    return parser.parse_args(argv)


def evaluate_files(gt_file: str,
                   pred_file: str,
                   show_progress: bool = True,
                   drill_down: bool = True,
                   rescore: bool = False) -> dict:
    """Metric dict (keys with the ``aims/`` prefix) of a prediction file."""
    for path in (gt_file, pred_file):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: no such file')
    gt = FederatedGroundTruth.from_file(gt_file)
    predictions = load_predictions(pred_file, gt)
    tags = {p.get('perturbation', '') for p in predictions.get('prompts', [])}
    if len(tags) > 1:
        raise ValueError(f'{pred_file}: prompts with different '
                         f'perturbations {sorted(tags)}')
    grouped = group_predictions(predictions)
    if rescore:
        grouped = rescore_predictions(grouped)
    metrics = evaluate_federated(
        gt,
        grouped,
        show_progress=show_progress,
        drill_down=drill_down,
        prompted='prompts' in predictions,
        drill_down_tag=tags.pop() if tags else '')
    return {PREFIX + key: value for key, value in metrics.items()}


def list_prompts(gt_file: str) -> list:
    """The drill-down prompts of an annotation file, as prediction-file
    ``prompts`` entries with the prompt mask as ``segmentation``."""
    gt = FederatedGroundTruth.from_file(gt_file)
    prompts = []
    for img_id in gt.image_ids:
        for link_type, by_ann in gt.images[img_id].prompts.items():
            for ann_id, prompt in by_ann.items():
                prompts.append(
                    dict(
                        id=len(prompts) + 1,
                        image_id=img_id,
                        type=link_type,
                        ann_id=int(ann_id),
                        prompt_type=DRILL_DOWN_PROMPT_TYPES[link_type],
                        segmentation=prompt['rle']))
    return prompts


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.list_prompts:
        try:
            prompts = list_prompts(args.gt)
        except (ValueError, FileNotFoundError) as e:
            print(f'error: {e}', file=sys.stderr)
            return 1
        dump_json(dict(prompts=prompts), args.list_prompts)
        print(f'{len(prompts)} drill-down prompts written to '
              f'{args.list_prompts}')
        return 0
    if args.pred is None:
        print('error: give a prediction file (or --list-prompts OUT)',
              file=sys.stderr)
        return 1
    try:
        metrics = evaluate_files(args.gt, args.pred, not args.no_progress,
                                 not args.no_drill_down, args.rescore)
    except (ValueError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print()
    print(format_metric_table(metrics, prefix=PREFIX))
    if args.out:
        dump_json(metrics, args.out, indent=2)
        print(f'metrics written to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
