# Copyright (c) mmaims contributors. All rights reserved.
"""Draw the samples of a config's dataset: every level, the links and the
prompt, one PNG per sample.

Example::

    python tools/misc/browse_dataset.py \
        configs/_base_/datasets/aims_synthetic.py --output-dir vis/ -n 16

Each PNG has four panels: the image with the prompt (outside darkened)
and the valid region (outside hatched), the entity, part and relation
targets (crowd regions in grey). Parts are joined to their entity and
relations to their two entities by lines between mask centres. The title
line names the sample type, prompt type, decoder and supervision.
"""
import argparse
import itertools
import os
import os.path as osp
from typing import List, Optional

import cv2
import numpy as np
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

from mmaims.registry import DATA_SAMPLERS, DATASETS
from mmaims.utils import register_all_modules


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Browse an AIMS dataset')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--output-dir', required=True, help='where the PNGs are written')
    parser.add_argument(
        '--split',
        default='train',
        choices=['train', 'val', 'test'],
        help='which dataloader of the config')
    parser.add_argument(
        '-n', '--num-samples', type=int, default=16, help='samples to draw')
    parser.add_argument('--seed', type=int, default=0, help='sampler seed')
    parser.add_argument(
        '--scale', type=int, default=2, help='upscale small images')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value')
    return parser.parse_args()


def _colour(i: int) -> tuple:
    rng = np.random.default_rng(i * 7919 + 13)
    return tuple(int(v) for v in rng.integers(60, 256, 3))


def _centre(mask: np.ndarray) -> Optional[tuple]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return int(xs.mean()), int(ys.mean())


def _overlay(img: np.ndarray, masks: np.ndarray, ignored: np.ndarray,
             alpha: float = 0.55) -> np.ndarray:
    out = img.astype(np.float32).copy()
    for i, m in enumerate(masks.astype(bool)):
        out[m] = out[m] * (1 - alpha) + np.array(_colour(i)) * alpha
        contours, _ = cv2.findContours(
            m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, (255, 255, 255), 1)
    for m in ignored.astype(bool):
        out[m] = out[m] * 0.3 + 128 * 0.7
    return out.clip(0, 255).astype(np.uint8)


def draw_sample(inputs, sample, scale: int = 2) -> np.ndarray:
    """Render one packed sample as an RGB image with four panels.

    Args:
        inputs (torch.Tensor): ``C x H x W`` image (BGR, as loaded).
        sample (DetDataSample): Output of :class:`PackAIMSInputs`.
        scale (int): Nearest-neighbour upscaling of every panel.

    Returns:
        np.ndarray: ``H' x W' x 3`` uint8 RGB.
    """
    img = inputs.permute(1, 2, 0).numpy()[..., ::-1].copy()
    h, w = img.shape[:2]
    prompt = sample.prompt_mask.data[0].numpy().astype(bool)
    valid = sample.valid_region.data[0].numpy().astype(bool)

    panel0 = img.astype(np.float32)
    panel0[~prompt] *= 0.35
    hatch = (np.add.outer(np.arange(h), np.arange(w)) % 6) == 0
    panel0[~valid & hatch] = (255, 0, 255)
    panels = [panel0.clip(0, 255).astype(np.uint8)]

    def masks_of(field):
        if field not in sample:
            return np.zeros((0, h, w), dtype=np.uint8)
        return getattr(sample, field).masks.masks

    ent = masks_of('gt_instances')
    panels.append(_overlay(img, ent, masks_of('ignored_instances')))
    parts = masks_of('gt_part_instances')
    panels.append(_overlay(img, parts, masks_of('ignored_part_instances')))
    rels = masks_of('gt_relation_instances')
    panels.append(
        _overlay(img, rels, masks_of('ignored_relation_instances')))
    panels = [
        cv2.resize(p, (w * scale, h * scale),
                   interpolation=cv2.INTER_NEAREST) for p in panels
    ]
    ent_centres = [_centre(m) for m in ent]

    def pt(c):
        return (c[0] * scale + scale // 2, c[1] * scale + scale // 2)

    if 'gt_part_instances' in sample:
        for m, e in zip(parts,
                        sample.gt_part_instances.entity_index.tolist()):
            c = _centre(m)
            if c is not None and e >= 0 and ent_centres[e] is not None:
                cv2.line(panels[2], pt(c), pt(ent_centres[e]), (255, 255, 0),
                         1)
                cv2.circle(panels[2], pt(ent_centres[e]), 3, (255, 255, 0),
                           -1)
    if 'gt_relation_instances' in sample:
        for m, (s, o) in zip(
                rels, sample.gt_relation_instances.entity_index.tolist()):
            c = _centre(m)
            for e, colour in ((s, (255, 80, 80)), (o, (80, 160, 255))):
                if c is not None and e >= 0 and ent_centres[e] is not None:
                    cv2.line(panels[3], pt(c), pt(ent_centres[e]), colour, 1)
    for p, name in zip(panels, ('image+prompt', 'entity', 'part',
                                'relation')):
        cv2.putText(p, name, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                    (255, 255, 255), 1)
    grid = np.concatenate(panels, axis=1)
    task = sample.metainfo.get('task', {})
    sup = ', '.join(f'{d}->{v["level"]}{"" if v["exhaustive"] else "(ne)"}'
                    for d, v in task.get('supervision', {}).items())
    title = (f'img {sample.metainfo.get("img_id")} '
             f'{sample.metainfo.get("source")} '
             f'levels={sample.metainfo.get("levels")} | type '
             f'{task.get("sample_type")} {task.get("prompt_type")} '
             f'dec={task.get("decoder")} | {sup}')
    bar = np.zeros((18, grid.shape[1], 3), dtype=np.uint8)
    cv2.putText(bar, title, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                (255, 255, 255), 1)
    return np.concatenate([bar, grid], axis=0)


def sample_indices(dataloader_cfg, dataset, num: int,
                   seed: int) -> List[int]:
    """Indices in the order the config's sampler would draw them."""
    sampler_cfg = dict(dataloader_cfg.get('sampler', {}))
    if sampler_cfg.get('type') == 'TaskBalancedSampler':
        sampler = DATA_SAMPLERS.build(
            sampler_cfg, default_args=dict(dataset=dataset, seed=seed))
        return list(itertools.islice(iter(sampler), num))
    return list(range(min(num, len(dataset))))


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    register_all_modules(init_default_scope=False)
    init_default_scope(cfg.get('default_scope', 'mmaims'))
    np.random.seed(args.seed)

    loader_cfg = cfg.get(f'{args.split}_dataloader')
    dataset = DATASETS.build(loader_cfg.dataset)
    indices = sample_indices(loader_cfg, dataset, args.num_samples,
                             args.seed)
    os.makedirs(args.output_dir, exist_ok=True)
    progress = ProgressBar(len(indices))
    for k, idx in enumerate(indices):
        data = dataset[idx]
        canvas = draw_sample(data['inputs'], data['data_samples'],
                             args.scale)
        task = data['data_samples'].metainfo.get('task', {})
        name = f'{k:04d}_type{task.get("sample_type", 0)}_' \
               f'img{data["data_samples"].metainfo.get("img_id")}.png'
        cv2.imwrite(
            osp.join(args.output_dir, name.replace(':', '_')),
            canvas[..., ::-1])
        progress.update()
    print(f'\nwrote {len(indices)} images to {args.output_dir}')


if __name__ == '__main__':
    main()
