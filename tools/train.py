# Copyright (c) mmaims contributors. All rights reserved.
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mmaims.registry import RUNNERS
from mmaims.utils import (find_resume_checkpoint, register_all_modules,
                          register_safe_checkpoint_loader, setup_distributed,
                          teardown_distributed)


def parse_args():
    parser = argparse.ArgumentParser(description='Train an AIMS model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='enable automatically scaling LR.')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint or, without a path, from the '
        'newest intact checkpoint of the work dir (a damaged latest one is '
        'skipped, saying so); stops if there is none, unless '
        '--allow-fresh-start')
    parser.add_argument(
        '--allow-fresh-start',
        action='store_true',
        help='with --resume and nothing to resume in the work dir, train '
        'from the start instead of stopping')
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
    # torch.distributed.launch passes `--local-rank` to the script
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    # every checkpoint (load_from, --resume) is read weights-only
    register_safe_checkpoint_loader()

    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    setup_distributed(args.launcher, cfg)

    # work_dir is determined in this priority: CLI > segment in file > filename
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.amp is True:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'

    if args.auto_scale_lr:
        if 'auto_scale_lr' in cfg and \
                'enable' in cfg.auto_scale_lr and \
                'base_batch_size' in cfg.auto_scale_lr:
            cfg.auto_scale_lr.enable = True
        else:
            raise RuntimeError('Can not find "auto_scale_lr" or '
                               '"auto_scale_lr.enable" or '
                               '"auto_scale_lr.base_batch_size" in your'
                               ' configuration file.')

    # resume is determined in this priority: resume from > auto_resume
    if args.resume == 'auto':
        checkpoint, skipped = find_resume_checkpoint(cfg.work_dir)
        for line in skipped:
            print(f'--resume: skipped {line}', file=sys.stderr)
        if checkpoint is not None:
            print(f'--resume: resuming from {checkpoint}')
            cfg.resume = True
            cfg.load_from = checkpoint
        elif args.allow_fresh_start:
            print(f'--resume: nothing to resume in {cfg.work_dir}; '
                  'starting from the beginning (--allow-fresh-start)')
        else:
            sys.exit(f'--resume: nothing to resume in {cfg.work_dir} (no '
                     'intact checkpoint). Run without --resume to start '
                     'from the beginning, or add --allow-fresh-start.')
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)

    runner.train()
    # the runner's DDP wrapper holds the process group: release it before
    # the group is destroyed (see teardown_distributed)
    del runner
    teardown_distributed()


if __name__ == '__main__':
    main()
