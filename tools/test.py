# Copyright (c) mmaims contributors. All rights reserved.
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mmaims.registry import RUNNERS
from mmaims.utils import (register_all_modules,
                          register_safe_checkpoint_loader, setup_distributed,
                          teardown_distributed)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) an AIMS model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out',
        type=str,
        help='dump predictions: a .json file is written in the prediction '
        'format of docs (masks, levels, scores and links) for offline '
        'evaluation with tools/analysis_tools/eval_predictions.py; a .pkl '
        'file gets the raw mmdet results')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved. '
        'If specified, it will be automatically saved '
        'to the work_dir/timestamp/show_dir')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_dump_metric(out: str):
    """Return the metric that writes ``--out``, chosen by its extension."""
    if out.endswith('.json'):
        from mmaims.evaluation import DumpAIMSPredictions
        return DumpAIMSPredictions(out_file_path=out)
    if out.endswith(('.pkl', '.pickle')):
        from mmdet.evaluation import DumpDetResults
        return DumpDetResults(out_file_path=out)
    raise ValueError(f'--out must end with .json or .pkl, got "{out}"')


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    # every checkpoint (load_from, --resume) is read weights-only
    register_safe_checkpoint_loader()

    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    setup_distributed(args.launcher, cfg)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    cfg.load_from = args.checkpoint

    if args.show or args.show_dir:
        from mmdet.engine.hooks.utils import trigger_visualization_hook
        cfg = trigger_visualization_hook(cfg, args)

    dump_metric = build_dump_metric(args.out) if args.out else None

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)

    if dump_metric is not None:
        runner.test_evaluator.metrics.append(dump_metric)

    runner.test()
    # the runner's DDP wrapper holds the process group: release it before
    # the group is destroyed (see teardown_distributed)
    del runner
    teardown_distributed()


if __name__ == '__main__':
    main()
