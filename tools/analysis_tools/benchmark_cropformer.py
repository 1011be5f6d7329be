# Copyright (c) mmaims contributors. All rights reserved.
"""Latency of CropFormer's crop-ensemble inference against single-view
Mask2Former, in one run (paper 003, Table 7's RT column).

Builds CropFormer from a config, makes one random image whose short side is
``--size`` (long side ``--aspect`` times that) and passes it once, untimed,
through the config's test pipeline (``CropFormerViews`` resizes the full
view to that short side and cuts the four corner crops at the full view's
size) and the data preprocessor. Then it times ``CropFormer.predict`` on
that batch (network forward and the merge of the masks at the original
size, without data loading and preprocessing, as the paper's RT: "the time
of network forward except the data processing") for Table 7's variants
(``test_cfg`` ``decoder`` / ``views``, see ``ENSEMBLE_VARIANTS`` in
``mmaims/models/detectors/crop_former.py``):

- **Image-O** (``'image'``, ``'full'``), the reference: the image-level
  entity decoder on the full view; the crops are not encoded. This is the
  forward of the single-view Mask2Former baseline that CropFormer contains;
- **Batch-O**, **Batch-C** (the batch decoder's full-view or crop masks);
- **Batch-OC** (``'batch'``, ``'full+crops'``, the default): the crop
  ensemble of Sec. 4.3, target <= 2.4x Image-O (the paper: 1545 / 637 ms on
  an A100, 2.43x).

Each variant's median milliseconds per image and its ratio to Image-O are
printed. The variants run in turn inside every repetition
(``time_interleaved`` of ``benchmark.py``), so a change of the machine's
load affects them alike. The weights are random unless ``--checkpoint``
is given: the network's latency does not depend on them (the merge does a
little, through how many masks pass ``mask_thr``). Timing is not a test:
run it alone on the hardware you care about, e.g.::

    python tools/analysis_tools/benchmark_cropformer.py \\
        --config configs/cropformer/cropformer_swin-t_8xb2-1x_entityseg.py \\
        --size 800 --repeat 20 --device cuda
    python tools/analysis_tools/benchmark_cropformer.py --size 256  # CPU
"""
import argparse
import copy
import os.path as osp
import sys

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.dataset import pseudo_collate

from mmaims.apis.aims_inferencer import SKIPPED_TRANSFORMS
from mmaims.models.detectors.crop_former import ENSEMBLE_VARIANTS, CropFormer

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import benchmark  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'cropformer',
                          'cropformer_r18_synthetic.py')
#: Table 7's name -> test_cfg (decoder, views)
VARIANTS = {name: key for key, name in ENSEMBLE_VARIANTS.items()}
#: the reference every other variant is compared with
REFERENCE = 'Image-O'
#: Table 7's run times (ms, A100, Swin-T, short side 800)
PAPER_MS = {'Image-O': 637, 'Batch-O': 1514, 'Batch-C': 1507, 'Batch-OC': 1545}
#: the issue's target for the crop ensemble, as a ratio to Image-O
TARGETS = {'Batch-OC': 2.4}
DESCRIPTIONS = {
    'Image-O': 'single-view Mask2Former',
    'Batch-OC': 'crop ensemble',
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='CropFormer crop-ensemble latency vs. single-view '
        'Mask2Former (Table 7 variants)')
    parser.add_argument(
        '--config',
        default=DEFAULT_CONFIG,
        help='CropFormer config (default: the CPU synthetic one)')
    parser.add_argument(
        '--checkpoint', help='weights (optional; random otherwise)')
    parser.add_argument(
        '--size',
        type=int,
        default=800,
        help='short side of the full view, in pixels')
    parser.add_argument(
        '--aspect',
        type=float,
        default=4 / 3,
        help='long side / short side of the image (1 for a square)')
    parser.add_argument(
        '--variants',
        nargs='+',
        choices=[name for name in VARIANTS if name != REFERENCE],
        default=[name for name in VARIANTS if name != REFERENCE],
        help=f'variants to time besides {REFERENCE}, which is always timed')
    benchmark.add_run_args(parser)
    return parser.parse_args(argv)


def make_cropformer_batch(model: CropFormer, cfg, size: int, aspect: float):
    """One random image, ``size`` x ``round(size * aspect)``, through the
    config's test pipeline (without its file and annotation loading, as in
    the inferencer) with ``CropFormerViews`` resizing to that size, and
    through the model's data preprocessor.

    Returns:
        tuple[Tensor, list[DetDataSample]]: The views ``(1 + K, 3, H, W)``
        and the one full-view sample with its ``crop_samples``.
    """
    height, width = size, max(1, round(size * aspect))
    steps = []
    for step in copy.deepcopy(cfg.test_dataloader.dataset.pipeline):
        if step['type'] in SKIPPED_TRANSFORMS:
            continue
        if step['type'] == 'CropFormerViews':
            step['scale'] = (max(height, width), min(height, width))
        steps.append(step)
    if 'CropFormerViews' not in [step['type'] for step in steps]:
        raise ValueError('the test pipeline of the config has no '
                         'CropFormerViews: not a CropFormer config')
    rng = np.random.RandomState(0)
    img = rng.randint(0, 256, (height, width, 3), dtype=np.uint8)
    packed = Compose(steps)(
        dict(
            img=img,
            img_shape=img.shape[:2],
            ori_shape=img.shape[:2],
            img_id=0,
            img_path=None))
    # the preprocessor moves the views to the model's device
    data = model.data_preprocessor(pseudo_collate([packed]), False)
    return data['inputs'], data['data_samples']


def set_variant(model: CropFormer, name: str) -> None:
    """Switch an existing model to one of Table 7's variants."""
    decoder, views = VARIANTS[name]
    model.test_cfg.update(decoder=decoder, views=views)
    model.ensemble_variant = (decoder, views)


def variant_fns(model: CropFormer, inputs, samples, names) -> dict:
    """A function per variant that predicts the batch with it."""

    def predict_with(name):

        def run():
            set_variant(model, name)
            model.predict(inputs, copy.deepcopy(samples))

        return run

    return {name: predict_with(name) for name in names}


def table(medians: dict) -> str:
    """The markdown table of the medians (seconds per image)."""
    ref = medians[REFERENCE]
    rows = [
        '| Table 7 variant (decoder, views) | ms / image | / Image-O | '
        'paper, A100 (ms, / Image-O) | target |', '|---|---|---|---|---|'
    ]
    for name, seconds in medians.items():
        decoder, views = VARIANTS[name]
        label = f'{name} ({decoder}, {views})'
        if name in DESCRIPTIONS:
            label += f': {DESCRIPTIONS[name]}'
        paper = PAPER_MS[name]
        target = f'<= {TARGETS[name]:.2f}x' if name in TARGETS else '-'
        rows.append(f'| {label} | {seconds * 1000:.1f} | '
                    f'{seconds / ref:.2f}x | {paper}, '
                    f'{paper / PAPER_MS[REFERENCE]:.2f}x | {target} |')
    return '\n'.join(rows)


def main(argv=None):
    args = parse_args(argv)
    model, _ = benchmark.build_models(args, with_m2f=False)
    if not isinstance(model, CropFormer):
        raise ValueError(f'{args.config} builds a {type(model).__name__}, '
                         'not a CropFormer')
    cfg = benchmark.load_config(args)
    inputs, samples = make_cropformer_batch(model, cfg, args.size, args.aspect)
    full = samples[0]
    names = [REFERENCE] + [n for n in VARIANTS if n in args.variants]
    weights = f'weights {args.checkpoint}' if args.checkpoint else \
        'random weights'
    print(f'config {args.config}, device {args.device}, {weights}; image '
          f'{tuple(full.ori_shape[:2])}, full view '
          f'{tuple(full.img_shape[:2])} + {len(full.crop_samples)} crops '
          f'(padded {tuple(inputs.shape[-2:])}), batch of 1 image')
    with torch.no_grad():
        medians = benchmark.time_interleaved(
            variant_fns(model, inputs, samples, names), args.repeat,
            args.warmup, args.device)
    print()
    print(table(medians))
    ratio = medians['Batch-OC'] / medians[REFERENCE] \
        if 'Batch-OC' in medians else None
    if ratio is not None:
        print(f'\ncrop ensemble / single-view Mask2Former: {ratio:.2f}x '
              f'({benchmark.fmt_ms(medians["Batch-OC"])} / '
              f'{benchmark.fmt_ms(medians[REFERENCE])}), target <= '
              f'{TARGETS["Batch-OC"]:.2f}x')


if __name__ == '__main__':
    main()
