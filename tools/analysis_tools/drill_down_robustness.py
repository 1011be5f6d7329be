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
(so the mAP) stay those of the uncut masks. ``--ceiling`` runs no model
(give no checkpoint): the TRUE children of each rough prompt, cut to it as
the config's ``prompt_clip`` says (``'entities'`` with the true entity
masks), are scored as the drill-down output: the R@0.75 no model can
exceed with that clip (with ``'entities'``: what the rule gives with
perfect one-step entities, not a bound), and the share of children of
which the rough prompt has no pixel.

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

from mmaims.datasets.transforms.load_drill_down_prompts import (  # noqa
    LoadDrillDownPrompts, exact_drill_down_prompts)
from mmaims.evaluation.functional import (  # noqa: E402
    MAX_DETS, FederatedGroundTruth)
from mmaims.evaluation.functional.drill_down import (  # noqa: E402
    drill_key, evaluate_image_prompts, summarize_prompts)
from mmaims.registry import DATASETS, METRICS, MODELS  # noqa: E402
from mmaims.structures import ENTITY, decode_rle, encode_mask  # noqa: E402
from mmaims.structures.drill_down import DRILL_DOWN_PROMPT_TYPES  # noqa
from mmaims.structures.fields import LINK_TYPES, link_type  # noqa: E402
from mmaims.structures.prompt_geometry import (  # noqa: E402
    clip_children, entity_clip_region)
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
        'checkpoints',
        nargs='*',
        help='one or more (e.g. one per seed); none with --ceiling')
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
    parser.add_argument(
        '--ceiling',
        action='store_true',
        help='diagnostic, no model: the true children cut to each rough '
        'prompt by the configured prompt_clip, scored as drill-down output')
    args = parser.parse_args(argv)
    if args.ceiling and (args.checkpoints or args.cut_to_truth):
        parser.error('--ceiling runs no model: give no checkpoint and no '
                     '--cut-to-truth')
    if not args.ceiling and not args.checkpoints:
        parser.error('give at least one checkpoint (or --ceiling)')
    return args


def _cell(values: list) -> str:
    """Mean (± population std over checkpoints); '-' when undefined."""
    if any(v < 0 for v in values):
        return '-'
    text = f'{np.mean(values):.3f}'
    if len(values) > 1:
        text += f' ± {np.std(values):.3f}'
    return text


def _stack(rles: list, shape: tuple) -> torch.Tensor:
    """Bool (N, H, W) tensor of the RLE masks (N may be 0)."""
    masks = np.zeros((0, *shape), bool)
    if rles:
        masks = np.stack([decode_rle(rle) for rle in rles]).astype(bool)
    return torch.from_numpy(masks)


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
            entities = _stack([
                inst['mask'] for inst in info['instances']
                if inst['level'] == ENTITY and not inst['ignore_flag']
            ], tuple(prompts[0]['mask']['size']))
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


def clip_ceiling(gt: FederatedGroundTruth, spec: dict, seed: int, clip: str,
                 margin: int) -> dict:
    """The drill-down metrics of the true children of each rough prompt
    cut to it by ``clip`` (``'entities'``: the region made with the true
    entity masks), as if a model had output them (score 1); see the module
    docstring.

    Args:
        gt (FederatedGroundTruth): The split's ground truth (the metric's).
        spec (dict): The perturbation (``LoadDrillDownPrompts``).
        seed (int): Its seed.
        clip (str): ``test_cfg.prompt_clip``.
        margin (int): ``test_cfg.prompt_clip_margin``.

    Returns:
        dict: The drill-down keys of
        :func:`mmaims.evaluation.functional.drill_down.summarize_prompts`
        (``drill_*``; the ``restricted_*`` reference has no one-step
        output here) and, per child level, ``{child}_missing``: the share
        of non-crowd children of which the rough prompt has no pixel.
    """
    load = LoadDrillDownPrompts(perturbation=spec, seed=seed)
    per_image, missing = [], {link.child: [] for link in LINK_TYPES}
    for img_id in gt.image_ids:
        image = gt.images[img_id]
        shape = (image.height, image.width)
        if clip == 'entities':
            level = image.masks.get(ENTITY, dict(rles=[], crowd=[]))
            entities = _stack([
                rle for rle, crowd in zip(level['rles'], level['crowd'])
                if not crowd
            ], shape)
        preds = dict(prompted={}, prompt_masks={})
        for link in LINK_TYPES:
            children = image.masks.get(link.child)
            preds['prompted'][link.name] = outputs = {}
            preds['prompt_masks'][link.name] = given = {}
            for ann_id, prompt in image.prompts.get(link.name, {}).items():
                given[ann_id] = load.prompt_mask(prompt['rle'], img_id, ann_id)
                rough = torch.from_numpy(
                    decode_rle(given[ann_id]).astype(bool))
                region = entity_clip_region(
                    rough, entities, margin) if clip == 'entities' else rough
                rows = [
                    i for i in prompt['targets'] if not children['crowd'][i]
                ]
                truth = _stack([children['rles'][i] for i in rows], shape)
                missing[link.child].extend(
                    (~(truth & rough).flatten(1).any(1)).tolist())
                cut, kept = clip_children(truth, region, clip, margin)
                kept &= cut.flatten(1).any(1)
                outputs[ann_id] = dict(
                    rles=[encode_mask(m.numpy()) for m in cut[kept]],
                    scores=np.ones(int(kept.sum())))
        per_image.append(evaluate_image_prompts(image, preds, True, MAX_DETS))
    metrics = summarize_prompts(per_image, True, perturbation_tag(spec))
    for child, values in missing.items():
        metrics[f'{child}_missing'] = float(
            np.mean(values)) if values else -1.0
    return metrics


def ceiling_table(cfg: Config, args) -> str:
    """``--ceiling``: one row per perturbation (``clip_ceiling``)."""
    model = MODELS.build(cfg.model)
    clip = model.post_processor.prompt_clip_mode()
    margin = model.post_processor.prompt_clip_margin()
    gt = FederatedGroundTruth.from_file(cfg.test_evaluator.ann_file)
    children = [link_type(t).child for t in DRILL_DOWN_PROMPT_TYPES]
    header = ['prompt'] + [
        f'{_PLURAL[c]} R@0.75 ceiling ({clip})' for c in children
    ] + [f'{_PLURAL[c]} with no pixel in the prompt' for c in children]
    rows = []
    for spec in args.perturbations:
        tag = perturbation_tag(spec)
        metrics = clip_ceiling(gt, spec, args.seed, clip, margin)
        rows.append([tag or 'exact'] + [
            _cell([metrics[drill_key('drill', c, 'R@0.75', tag)]])
            for c in children
        ] + [_cell([metrics[f'{c}_missing']]) for c in children])
        print(' | '.join(rows[-1]), flush=True)
    lines = ['| ' + ' | '.join(r) + ' |' for r in [header] + rows]
    lines.insert(1, '|' + '---|' * len(header))
    return emit('\n'.join(lines) + '\n', args.out)


def main(argv=None) -> str:
    args = parse_args(argv)
    register_all_modules()
    register_safe_checkpoint_loader()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.ceiling:
        return ceiling_table(cfg, args)
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
