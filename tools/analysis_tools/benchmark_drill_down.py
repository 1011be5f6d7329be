# Copyright (c) mmaims contributors. All rights reserved.
"""Time drill-down evaluation against one-step evaluation, in one run.

    python tools/analysis_tools/benchmark_drill_down.py CONFIG [CHECKPOINT]
        [--device cpu]

Evaluates the config's test split twice with the same model, data loading
in the main process, batches of the config's size:

1. **one-step**: the test pipeline without ``LoadDrillDownPrompts`` and
   ``FederatedMetric(drill_down=False)``: what evaluation cost before
   drill-down was measured;
2. **with drill-down**: the config's test pipeline (with
   ``LoadDrillDownPrompts``) and ``FederatedMetric(drill_down=True)``: the
   one-step prediction, then every drill-down prompt of each image batched
   through the decoders on that image's features, and the metric scoring
   both.

Each time covers loading, inference and the metric. One batch runs first,
untimed, to warm up. The ratio (2) / (1) is printed with its target
(<= 2.0), and the inference and metric parts of both. Without a checkpoint
the weights are random (the number of masks per prompt, hence the metric's
share, then differs from a trained model's). Not a test: run it alone on the
machine, e.g. on the synthetic main job::

    python tools/analysis_tools/benchmark_drill_down.py \
        configs/aims/aims_r18_synthetic.py \
        work_dirs/aims_r18_synthetic/iter_2000.pth
"""
import argparse
import copy
import time

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.runner import load_checkpoint

from mmaims.registry import DATASETS, METRICS, MODELS
from mmaims.utils import register_all_modules, register_safe_checkpoint_loader


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config with a drill-down test split')
    parser.add_argument('checkpoint', nargs='?', help='model weights')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args()


def evaluate(model,
             dataset,
             metric,
             batch_size: int,
             warm_up: bool,
             transform=None) -> dict:
    """Run the split through ``model`` and ``metric``; return the times.
    ``transform(outputs, indices)``, when given, changes the predicted
    samples of the dataset rows ``indices`` before the metric sees them
    (untimed)."""
    times = dict(load=0., model=0., metric=0.)
    indices = list(range(len(dataset)))
    batches = [
        indices[i:i + batch_size] for i in range(0, len(indices), batch_size)
    ]
    if warm_up:
        batches = batches[:1]
    for batch in batches:
        t0 = time.perf_counter()
        data = pseudo_collate([dataset[i] for i in batch])
        t1 = time.perf_counter()
        with torch.no_grad():
            outputs = model.test_step(data)
        if transform is not None:
            outputs = transform(outputs, batch)
        t2 = time.perf_counter()
        metric.process(data, [o.to_dict() for o in outputs])
        t3 = time.perf_counter()
        times['load'] += t1 - t0
        times['model'] += t2 - t1
        times['metric'] += t3 - t2
    if not warm_up:
        t0 = time.perf_counter()
        metrics = metric.evaluate(len(dataset))
        times['metric'] += time.perf_counter() - t0
        times['metrics'] = metrics
    times['total'] = times['load'] + times['model'] + times['metric']
    return times


def main():
    args = parse_args()
    register_all_modules()
    register_safe_checkpoint_loader()
    cfg = Config.fromfile(args.config)
    model = MODELS.build(cfg.model)
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    else:
        model.init_weights()
    model = model.to(args.device).eval()

    dataset_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    if not any(t['type'] == 'LoadDrillDownPrompts'
               for t in dataset_cfg.pipeline):
        raise SystemExit(f'{args.config}: the test pipeline has no '
                         'LoadDrillDownPrompts')
    one_step_cfg = copy.deepcopy(dataset_cfg)
    one_step_cfg.pipeline = [
        t for t in dataset_cfg.pipeline if t['type'] != 'LoadDrillDownPrompts'
    ]
    runs = {
        'one-step': (DATASETS.build(one_step_cfg), False),
        'with drill-down': (DATASETS.build(dataset_cfg), True),
    }
    batch_size = cfg.test_dataloader.get('batch_size', 1)
    evaluator_cfg = cfg.test_evaluator
    print(f'{len(runs["one-step"][0])} images, batch {batch_size}, device '
          f'{args.device}, {torch.get_num_threads()} threads')

    results = {}
    for name, (dataset, drill_down) in runs.items():
        metric = METRICS.build(dict(evaluator_cfg, drill_down=drill_down))
        metric.dataset_meta = dataset.metainfo
        evaluate(model, dataset, metric, batch_size, warm_up=True)
        metric.results.clear()
        results[name] = evaluate(
            model, dataset, metric, batch_size, warm_up=False)
        times = results[name]
        print(f'{name:16s}: {times["total"]:.1f} s (loading '
              f'{times["load"]:.1f} s, model {times["model"]:.1f} s, '
              f'metric {times["metric"]:.1f} s)')
    drill = results['with drill-down']['metrics']
    prompts = sum(drill[f'aims/drill_{child}_prompts']
                  for child in ('part', 'entity'))
    ratio = results['with drill-down']['total'] / results['one-step']['total']
    print(f'{int(prompts)} drill-down prompts scored')
    print(f'ratio with drill-down / one-step: {ratio:.2f} (target <= 2.0) '
          f'-> {"OK" if ratio <= 2.0 else "TOO SLOW"}')


if __name__ == '__main__':
    main()
