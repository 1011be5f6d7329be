# Copyright (c) mmaims contributors. All rights reserved.
"""Print what each term of the AIMS training loss weighs, on real training
batches of a config: the mean over batches of every decoder's last-block
loss, its deep-supervision total, and each association pair's loss, with
their shares of the total that the optimizer sees (the sum of every key
holding ``loss``, as mmengine's ``parse_losses``).

This is the measurement behind the association loss weight
(``model.association_head.loss_assoc.loss_weight``, docs in the README):

    python tools/analysis_tools/loss_shares.py \\
        configs/aims/aims_r18_synthetic.py --num-batches 20

With ``--checkpoint`` the loss is measured on trained weights instead of
the initialisation; ``--cfg-options`` changes the config as in
``tools/train.py`` (e.g. another ``loss_weight``). Nothing is trained.
"""
import argparse
from collections import defaultdict
from typing import Dict

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint

from mmaims.registry import MODELS
from mmaims.utils import register_all_modules, register_safe_checkpoint_loader


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Loss terms of AIMS on training batches')
    parser.add_argument('config', help='training config')
    parser.add_argument('--checkpoint', help='weights to measure on')
    parser.add_argument(
        '--num-batches', type=int, default=10, help='batches to average')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, as in tools/train.py')
    return parser.parse_args(argv)


def group_losses(losses: Dict[str, torch.Tensor]) -> Dict[str, float]:
    """Sum the loss keys into groups: ``total``, ``{decoder} last block``,
    ``{decoder} all blocks`` and ``{pair}.loss_assoc``."""
    groups = defaultdict(float)
    for key, value in losses.items():
        if 'loss' not in key:
            continue
        value = float(value.detach().mean())
        groups['total'] += value
        name, _, rest = key.partition('.')
        if rest == 'loss_assoc':
            groups[key] += value
            continue
        groups[f'{name} all blocks'] += value
        if not rest.startswith('d'):
            groups[f'{name} last block'] += value
    return dict(groups)


def measure(cfg: Config, checkpoint=None, num_batches: int = 10,
            seed: int = 0) -> Dict[str, float]:
    """Mean of :func:`group_losses` over ``num_batches`` training batches.

    Args:
        cfg (Config): A training config.
        checkpoint (str, optional): Weights; default: the initialisation.
        num_batches (int): Batches to average over.
        seed (int): Random seed of the model init and the sampler.

    Returns:
        dict[str, float]: Group -> mean loss.
    """
    init_default_scope(cfg.get('default_scope', 'mmaims'))
    torch.manual_seed(seed)
    loader_cfg = cfg.train_dataloader.copy()
    loader_cfg.update(num_workers=0, persistent_workers=False)
    loader = Runner.build_dataloader(loader_cfg, seed=seed)
    model = MODELS.build(cfg.model)
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu')
    else:
        model.init_weights()
    model.train()
    sums: Dict[str, float] = defaultdict(float)
    batches = 0
    with torch.no_grad():
        for i, data in enumerate(loader):
            if i == num_batches:
                break
            data = model.data_preprocessor(data, True)
            for group, value in group_losses(
                    model(**data, mode='loss')).items():
                sums[group] += value
            batches += 1
    return {k: v / batches for k, v in sums.items()}


def format_shares(means: Dict[str, float]) -> str:
    total = means['total']
    lines = [f'{"term":<34}{"mean loss":>12}{"share":>9}']
    for group in sorted(means, key=lambda g: (g != 'total', g)):
        lines.append(f'{group:<34}{means[group]:>12.4f}'
                     f'{100 * means[group] / total:>8.1f}%')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    register_all_modules()
    register_safe_checkpoint_loader()  # --checkpoint is read weights-only
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    means = measure(cfg, args.checkpoint, args.num_batches, args.seed)
    print(f'{args.config}, {args.num_batches} training batches, '
          f'{"checkpoint " + args.checkpoint if args.checkpoint else "init"}')
    print(format_shares(means))
    return means


if __name__ == '__main__':
    # keep mmengine's per-parameter init report out of the output
    MMLogger.get_instance('loss_shares', log_level='WARNING')
    main()
