# Copyright (c) mmaims contributors. All rights reserved.
"""Drill-down from rough prompts: the drill-down metrics of one checkpoint
with exact, box, dilated, eroded, lasso and scribble prompts, side by side.

    python tools/analysis_tools/drill_down_robustness.py CONFIG \\
        CKPT [CKPT ...] \\
        [--perturbations exact box dilate:3 erode:2 polygon:3 strokes:3] \\
        [--seed 0] [--cfg-options model.test_cfg.prompt_clip=inside] \\
        [--rough-flag auto|rough|exact] [--out table.md]

A model trained with the rough-prompt flag (``prompt_encoder.rough_flag``)
is told that a perturbed prompt is rough and an exact one is not, as an
application knows a drawn prompt from a picked mask (``--rough-flag
auto``); ``rough`` / ``exact`` tell it the same for every prompt (to
measure what a wrong flag costs). Models without the flag ignore it.

Diagnostics (upper bounds, not methods): ``--cut-to-truth prompt``
predicts with ``prompt_clip='none'`` and cuts each child afterwards to the
TRUE prompt mask (no clip computed from the image can do better);
``--cut-to-truth entities`` cuts it to the region of
``prompt_clip='entities'`` computed with the image's true entity masks
instead of the one-step ones. R@0.75 is that of such a clip; the scores
(so the mAP) stay those of the uncut masks.

For each perturbation the config's test split is evaluated with
``LoadDrillDownPrompts(perturbation=...)`` (the model gets the rough
prompt, the targets stay the true children) and
``FederatedMetric(drill_down=True)``; the table gives, for entity -> parts
and relation -> entities, R@0.75 and mAP of the drill-down and of the
one-step reference restricted to the same rough prompt
(docs/formats.md section 3). ``type:value`` sets the perturbation's main
parameter (``dilate:3`` is ``dict(type='dilate', k=3)``). With several
checkpoints (the same config trained with different seeds) every cell is
the mean ± the spread (population standard deviation) over them, as
``ablation_table.py``; each checkpoint's own row is printed as it is done.
"""
import argparse
import copy
import os.path as osp
import sys
from functools import partial

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.runner import load_checkpoint

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from ablation_table import emit  # noqa: E402
from benchmark_drill_down import evaluate  # noqa: E402

from mmaims.datasets.transforms.load_drill_down_prompts import \
    exact_drill_down_prompts  # noqa: E402
from mmaims.registry import DATASETS, METRICS, MODELS  # noqa: E402
from mmaims.structures import decode_rle  # noqa: E402
from mmaims.structures.drill_down import DRILL_DOWN_PROMPT_TYPES  # noqa
from mmaims.structures.fields import link_type  # noqa: E402
from mmaims.structures.prompt_geometry import \
    entity_clip_region  # noqa: E402
from mmaims.structures.prompt_perturbation import (  # noqa: E402
    PERTURBATIONS, perturbation_tag)
from mmaims.utils import (register_all_modules,  # noqa: E402
                          register_safe_checkpoint_loader)

#: the parameter ``type:value`` sets
_MAIN_PARAM = dict(dilate='k', erode='k', polygon='tolerance', strokes='num')
_PLURAL = dict(part='parts', entity='entities')
DEFAULT = ('exact', 'box', 'dilate:3', 'erode:2', 'polygon:3', 'strokes:3')


def parse_perturbation(text: str):
    """``'dilate:3'`` -> ``dict(type='dilate', k=3)``."""
    kind, _, value = text.partition(':')
    if kind not in PERTURBATIONS:
        raise argparse.ArgumentTypeError(
            f'unknown perturbation "{kind}"; expected one of '
            f'{sorted(PERTURBATIONS)}')
    spec = dict(type=kind)
    if value:
        if kind not in _MAIN_PARAM:
            raise argparse.ArgumentTypeError(f'"{kind}" takes no value')
        spec[_MAIN_PARAM[kind]] = float(value) if '.' in value else int(value)
    return spec


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument(
        'checkpoints', nargs='+', help='one or more (e.g. one per seed)')
    parser.add_argument(
        '--perturbations',
        nargs='+',
        type=parse_perturbation,
        default=[parse_perturbation(p) for p in DEFAULT])
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--out', help='also write the table (markdown)')
    parser.add_argument(
        '--rough-flag',
        choices=('auto', 'rough', 'exact'),
        default='auto',
        help='what a model with the rough-prompt flag is told: rough iff '
        'perturbed (auto), or the same for every prompt')
    parser.add_argument(
        '--cut-to-truth',
        choices=('prompt', 'entities'),
        help='diagnostic: children predicted with prompt_clip=none, cut '
        'afterwards to the true prompt mask, or to the prompt_clip='
        '"entities" region made with the true entity masks')
    return parser.parse_args(argv)


def _cell(values: list) -> str:
    """Mean (± population std over checkpoints); '-' when undefined."""
    if any(v < 0 for v in values):
        return '-'
    text = f'{np.mean(values):.3f}'
    if len(values) > 1:
        text += f' ± {np.std(values):.3f}'
    return text


def cut_to_truth(outputs, rows, dataset, mode: str, margin: int):
    """Cut the drill-down children of ``outputs`` (predicted with
    ``prompt_clip='none'`` on the rows ``rows`` of ``dataset``) to the true
    prompt mask (``'prompt'``) or to ``entity_clip_region`` of the given
    prompt with the true entity masks (``'entities'``); see the module
    docstring."""
    for sample, row in zip(outputs, rows):
        info = dataset.get_data_info(row)
        prompts = sample.metainfo.get('drill_down_prompts') or []
        if not prompts:
            continue
        if mode == 'prompt':
            exact = {
                prompt.ann_id: mask
                for prompt, mask in exact_drill_down_prompts(info)
            }
        else:
            entities = [
                decode_rle(inst['mask']).astype(bool)
                for inst in info['instances']
                if inst['level'] == 'entity' and not inst['ignore_flag']
            ]
            shape = decode_rle(prompts[0]['mask']).shape
            entities = torch.from_numpy(
                np.stack(entities) if entities else np.zeros((0, *shape),
                                                             bool))
        inst = sample.pred_prompted_instances
        masks = inst.masks.clone()
        for index, prompt in enumerate(prompts):
            if mode == 'prompt':
                region = torch.from_numpy(
                    decode_rle(exact[prompt['ann_id']]).astype(bool))
            else:
                region = entity_clip_region(
                    decode_rle(prompt['mask']), entities, margin)
            kept = inst.prompt_index == index
            masks[kept] &= region.to(masks.device)
        inst.masks = masks
    return outputs


def main(argv=None) -> str:
    args = parse_args(argv)
    register_all_modules()
    register_safe_checkpoint_loader()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.cut_to_truth:
        cfg.merge_from_dict({'model.test_cfg.prompt_clip': 'none'})
    models = []
    for checkpoint in args.checkpoints:
        model = MODELS.build(cfg.model)
        load_checkpoint(model, checkpoint, map_location='cpu')
        models.append(model.to(args.device).eval())
    dataset_cfg = cfg.test_dataloader.dataset
    batch_size = cfg.test_dataloader.get('batch_size', 1)
    children = [link_type(t).child for t in DRILL_DOWN_PROMPT_TYPES]
    columns = [(child, scoring, value) for child in children
               for scoring, value in (('drill', 'R@0.75'), ('drill', 'mAP'),
                                      ('restricted', 'R@0.75'),
                                      ('restricted', 'mAP'))]
    header = ['prompt'] + [
        f'{_PLURAL[child]} ' + ('' if scoring == 'drill' else 'restricted ')
        + value for child, scoring, value in columns
    ]
    rows = []
    for spec in args.perturbations:
        tag = perturbation_tag(spec)
        run_cfg = copy.deepcopy(dataset_cfg)
        steps = [
            t for t in run_cfg.pipeline if t['type'] == 'LoadDrillDownPrompts'
        ]
        if not steps:
            raise SystemExit(f'{args.config}: the test pipeline has no '
                             'LoadDrillDownPrompts')
        steps[0].update(
            perturbation=spec,
            seed=args.seed,
            rough=None if args.rough_flag == 'auto' else
            args.rough_flag == 'rough')
        dataset = DATASETS.build(run_cfg)
        infix = f'{tag}_' if tag else ''
        values = [[] for _ in columns]
        for checkpoint, model in zip(args.checkpoints, models):
            metric = METRICS.build(dict(cfg.test_evaluator, drill_down=True))
            metric.dataset_meta = dataset.metainfo
            transform = None
            if args.cut_to_truth:
                transform = partial(
                    cut_to_truth,
                    dataset=dataset,
                    mode=args.cut_to_truth,
                    margin=model.post_processor.prompt_clip_margin())
            with torch.no_grad():
                metrics = evaluate(model, dataset, metric, batch_size, False,
                                   transform)['metrics']
            for column, (child, scoring, value) in zip(values, columns):
                column.append(metrics[f'aims/{scoring}_{infix}{child}_'
                                      f'{value}'])
            print(f'{tag or "exact"} [{checkpoint}]: ' + ', '.join(
                f'{h} {_cell([v[-1]])}' for h, v in zip(header[1:], values)),
                  flush=True)
        rows.append([tag or 'exact'] + [_cell(v) for v in values])
    lines = ['| ' + ' | '.join(r) + ' |' for r in [header] + rows]
    lines.insert(1, '|' + '---|' * len(header))
    return emit('\n'.join(lines) + '\n', args.out)


if __name__ == '__main__':
    main()
