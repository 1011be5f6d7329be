# Copyright (c) mmaims contributors. All rights reserved.
"""Latency of AIMS inference against mmdet's Mask2Former, in one run.

Measures, on synthetic input of the given size:

1. one-step AIMS inference (three levels + links, post-processing
   included) and mmdet's ``Mask2Former`` instance inference built with the
   same backbone, pixel decoder, transformer decoder and number of queries
   (one class, post-processing included); prints their ratio
   (target: <= 1.4);
2. one prompt on cached image features (``AIMS.predict_prompt`` after
   ``AIMS.extract_feat``) as a fraction of one full AIMS inference
   (target: <= 0.15).

The three measurements run in turn inside every repetition (so a change of
the machine's load affects them alike) and the medians are compared.
Weights do not change the latency; ``--checkpoint`` loads AIMS weights for
completeness (Mask2Former keeps random weights). Not a test: run it on the
hardware you care about, e.g.::

    python tools/analysis_tools/benchmark.py configs/aims/aims_swin-t.py \
        --shape 800 1333 --repeat 20 --device cuda
    python tools/analysis_tools/benchmark.py configs/aims/aims_swin-t.py \
        --shape 256 256 --repeat 3            # small, CPU
"""
import argparse
import copy
import statistics
import time

import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.runner import load_checkpoint
from mmengine.utils import ProgressBar

from mmaims.models.detectors.aims import fill_widths, scratch_backbone_cfg
from mmaims.registry import MODELS
from mmaims.utils import register_all_modules, register_safe_checkpoint_loader

#: Mask2Former's transformer decoder (mmdet config) if the AIMS head config
#: does not give one.
DEFAULT_TRANSFORMER_DECODER = dict(
    return_intermediate=True,
    num_layers=9,
    layer_cfg=dict(
        self_attn_cfg=dict(
            embed_dims=256, num_heads=8, dropout=0.0, batch_first=True),
        cross_attn_cfg=dict(
            embed_dims=256, num_heads=8, dropout=0.0, batch_first=True),
        ffn_cfg=dict(
            embed_dims=256,
            feedforward_channels=2048,
            num_fcs=2,
            ffn_drop=0.0,
            act_cfg=dict(type='ReLU', inplace=True))),
    init_cfg=None)


def parse_args():
    parser = argparse.ArgumentParser(
        description='AIMS latency vs. Mask2Former, and cached-prompt cost')
    parser.add_argument('config', help='AIMS config file')
    parser.add_argument('--checkpoint', help='AIMS checkpoint (optional)')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=[512, 512],
        metavar=('H', 'W'),
        help='input image size (before padding to the size divisor)')
    parser.add_argument(
        '--repeat', type=int, default=10, help='timed runs per model')
    parser.add_argument(
        '--warmup', type=int, default=2, help='untimed runs per model')
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='device to run on')
    parser.add_argument(
        '--prompt-decoder',
        default='part',
        help='decoder used for the cached-prompt timing')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, as in tools/train.py')
    return parser.parse_args()


def build_mask2former_cfg(aims_model: ConfigDict) -> dict:
    """An mmdet ``Mask2Former`` config with the AIMS image encoder and the
    decoder of one AIMS level (one class, instance inference)."""
    aims_model = ConfigDict(fill_widths(aims_model))
    head = aims_model.decode_head
    pixel_decoder = copy.deepcopy(aims_model.pixel_decoder)
    in_channels = pixel_decoder.pop('in_channels')
    strides = pixel_decoder.pop('strides', [4, 8, 16, 32])
    feat_channels = pixel_decoder.pop('feat_channels', 256)
    out_channels = pixel_decoder.pop('out_channels', 256)
    pixel_decoder.pop('type')
    pixel_decoder = dict(type='MSDeformAttnPixelDecoder', **pixel_decoder)
    num_queries = head.get('num_queries', 100)
    if isinstance(num_queries, dict):
        num_queries = num_queries.get('entity', max(num_queries.values()))
    test_cfg = aims_model.get('test_cfg') or {}
    max_per_image = test_cfg.get('max_per_image', 100)
    if isinstance(max_per_image, dict):
        max_per_image = max_per_image.get('entity', 100)
    preprocessor = copy.deepcopy(aims_model.data_preprocessor)
    preprocessor['type'] = 'DetDataPreprocessor'
    return dict(
        type='Mask2Former',
        data_preprocessor=preprocessor,
        backbone=scratch_backbone_cfg(aims_model.backbone)
        if aims_model.get('from_scratch') else copy.deepcopy(
            aims_model.backbone),
        panoptic_head=dict(
            type='Mask2FormerHead',
            in_channels=in_channels,
            strides=strides,
            feat_channels=feat_channels,
            out_channels=out_channels,
            num_things_classes=1,
            num_stuff_classes=0,
            num_queries=num_queries,
            num_transformer_feat_level=3,
            pixel_decoder=pixel_decoder,
            enforce_decoder_input_project=False,
            positional_encoding=dict(
                num_feats=feat_channels // 2, normalize=True),
            transformer_decoder=copy.deepcopy(
                head.get('transformer_decoder', DEFAULT_TRANSFORMER_DECODER)),
            loss_cls=dict(
                type='CrossEntropyLoss',
                use_sigmoid=False,
                loss_weight=2.0,
                reduction='mean',
                class_weight=[1.0, 0.1])),
        panoptic_fusion_head=dict(
            type='MaskFormerFusionHead',
            num_things_classes=1,
            num_stuff_classes=0),
        test_cfg=dict(
            panoptic_on=False,
            semantic_on=False,
            instance_on=True,
            max_per_image=max_per_image))


def make_batch(model, shape, device):
    """A preprocessed batch of one random image of ``shape``."""
    h, w = shape
    img = torch.randint(0, 256, (3, h, w), dtype=torch.uint8)
    sample = DetDataSample(
        metainfo=dict(
            img_id=0,
            img_shape=(h, w),
            ori_shape=(h, w),
            scale_factor=(1.0, 1.0)))
    data = model.data_preprocessor(
        dict(inputs=[img.to(device)], data_samples=[sample]), False)
    return data['inputs'], data['data_samples']


def sync(device):
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize()


def time_interleaved(fns, repeat, warmup, device):
    """Median latency in seconds of every ``fns[name]()``.

    The functions run in turn inside every repetition, so a change of the
    machine's load during the run affects all of them alike.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    bar = ProgressBar(repeat)
    for _ in range(repeat):
        for name, fn in fns.items():
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - start)
        bar.update()
    print()
    medians = {}
    for name, values in times.items():
        medians[name] = statistics.median(values)
        print(f'{name}: median {medians[name] * 1000:.1f} ms over {repeat} '
              f'runs (min {min(values) * 1000:.1f}, max '
              f'{max(values) * 1000:.1f})')
    return medians


def main():
    args = parse_args()
    register_all_modules()
    register_safe_checkpoint_loader()  # --checkpoint is read weights-only
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    device = args.device

    aims = MODELS.build(cfg.model)
    if args.checkpoint:
        load_checkpoint(aims, args.checkpoint, map_location='cpu')
    aims = aims.to(device).eval()
    m2f = MODELS.build(ConfigDict(build_mask2former_cfg(cfg.model)))
    m2f = m2f.to(device).eval()

    inputs, samples = make_batch(aims, args.shape, device)
    m2f_inputs, m2f_samples = make_batch(m2f, args.shape, device)
    h, w = args.shape
    prompt = torch.zeros((h, w), dtype=torch.bool)
    prompt[h // 4:3 * h // 4, w // 4:3 * w // 4] = True

    print(f'input {h}x{w} (padded {tuple(inputs.shape[-2:])}), device '
          f'{device}, config {args.config}')
    with torch.no_grad():
        feats = aims.extract_feat(inputs)
        medians = time_interleaved(
            {
                'AIMS one-step (3 levels + links)':
                lambda: aims.predict(inputs, copy.deepcopy(samples)),
                'Mask2Former (same backbone / pixel decoder / decoder)':
                lambda: m2f.predict(m2f_inputs, copy.deepcopy(m2f_samples)),
                f'AIMS one prompt on cached features '
                f'({args.prompt_decoder} decoder)':
                lambda: aims.predict_prompt(feats, prompt, args.prompt_decoder,
                                            samples),
            }, args.repeat, args.warmup, device)
    t_aims, t_m2f, t_prompt = medians.values()

    ratio_m2f = t_aims / t_m2f
    ratio_prompt = t_prompt / t_aims
    print('\n| measurement | value | target |')
    print('|---|---|---|')
    print(f'| AIMS one-step / Mask2Former | {ratio_m2f:.2f}x | <= 1.40x |')
    print(f'| cached prompt / AIMS one-step | {ratio_prompt:.3f}x | '
          '<= 0.15x |')
    print(f'| AIMS one-step | {t_aims * 1000:.1f} ms | |')
    print(f'| Mask2Former | {t_m2f * 1000:.1f} ms | |')
    print(f'| cached prompt | {t_prompt * 1000:.1f} ms | |')


if __name__ == '__main__':
    main()
