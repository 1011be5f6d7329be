# Copyright (c) mmaims contributors. All rights reserved.
"""Latency and memory of AIMS inference against mmdet's Mask2Former, in
one run.

Measures, on random input of the given size:

1. one-step AIMS inference (three levels + links, post-processing
   included) and mmdet's ``Mask2Former`` instance inference built with the
   same backbone, pixel decoder, transformer decoder and number of queries
   (one class, post-processing included); their ratio (target <= 1.2x);
2. one prompt on cached image features (``AIMS.predict_prompt`` after
   ``AIMS.extract_feat``) as a fraction of one-step (target <= 0.15x);
3. 16 prompts on the cached features as one batched pass
   (``AIMS.predict_prompts``), per prompt, as a fraction of one-step
   (target <= 0.05x);
4. peak memory of an image session with 16 prompts (features computed
   and kept, then the 16 prompts) against one-step inference (target
   <= 1.5x): on CUDA the peak of ``torch.cuda.max_memory_allocated``
   above what was allocated before; on CPU the growth of the peak
   resident set (``ru_maxrss``) of a fresh process that runs the workload
   once (weights and libraries loaded before).

5. with ``--onnx``: the decoder pass of one prompt on the cached features
   (mask prompt encoder, the decoders, their heads; no post-processing)
   exported to ONNX (``mmaims.deployment``, in a temporary folder) and run
   with ONNX Runtime, against the same module in PyTorch; their ratio.
   ONNX Runtime runs on the CPU unless ``--device cuda`` and its CUDA
   provider is installed (the printed line names the provider).

2 and 3 are measured for each ``--subsets`` value of
``test_cfg.prompt_decoder_subset`` (which decoders a prompt runs). The
timed functions run in turn inside every repetition (so a change of the
machine's load affects them alike) and the medians are compared. Weights
do not change the latency; ``--checkpoint`` loads AIMS weights for
completeness (Mask2Former keeps random weights). Timing is not a test:
run it on the hardware you care about, e.g.::

    python tools/analysis_tools/benchmark.py configs/aims/aims_swin-t.py \
        --shape 800 1333 --repeat 20 --device cuda
    python tools/analysis_tools/benchmark.py configs/aims/aims_swin-t.py \
        --shape 256 256 --repeat 3            # small, CPU
"""
import argparse
import copy
import statistics
import tempfile
import time

import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.runner import load_checkpoint
from mmengine.utils import ProgressBar

from mmaims.models.detectors.aims import (PROMPT_DECODER_SUBSETS, fill_widths,
                                          scratch_backbone_cfg)
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


def add_run_args(parser: argparse.ArgumentParser) -> None:
    """The options of how the timed functions run, shared with
    ``benchmark_cropformer.py``: ``--repeat``, ``--warmup``, ``--device``,
    ``--msda-pytorch`` and ``--cfg-options`` (read by
    :func:`time_interleaved`, :func:`load_config` and
    :func:`build_models`)."""
    parser.add_argument(
        '--repeat', type=int, default=10, help='timed runs per timed function')
    parser.add_argument(
        '--warmup',
        type=int,
        default=2,
        help='untimed runs per timed function')
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='device to run on')
    parser.add_argument(
        '--msda-pytorch',
        action='store_true',
        help='run mmcv\'s MultiScaleDeformableAttention with its PyTorch '
        'implementation on every device (for an mmcv built without CUDA '
        'ops); the models compared share it, the pixel decoder is slower')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, as in tools/train.py')


def parse_args():
    parser = argparse.ArgumentParser(
        description='AIMS latency and memory vs. Mask2Former, and the cost '
        'of prompts on cached features')
    parser.add_argument('config', help='AIMS config file')
    parser.add_argument('--checkpoint', help='AIMS checkpoint (optional)')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=[512, 512],
        metavar=('H', 'W'),
        help='input image size (before padding to the size divisor)')
    add_run_args(parser)
    parser.add_argument(
        '--prompt-decoder',
        default='part',
        help='decoder used for the cached-prompt timings')
    parser.add_argument(
        '--num-prompts',
        type=int,
        default=16,
        help='prompts of the batched-prompt and memory measurements')
    parser.add_argument(
        '--subsets',
        nargs='+',
        choices=PROMPT_DECODER_SUBSETS,
        help='values of test_cfg.prompt_decoder_subset to time the prompts '
        'with (default: the config\'s)')
    parser.add_argument(
        '--no-memory', action='store_true', help='skip the memory probes')
    parser.add_argument(
        '--onnx',
        action='store_true',
        help='also time the prompt decoder pass exported to ONNX (ONNX '
        'Runtime) against PyTorch (needs requirements/deploy.txt)')
    # internal: one memory probe in a fresh process (see measure_memory)
    parser.add_argument(
        '--memory-probe', choices=MEMORY_WORKLOADS, help=argparse.SUPPRESS)
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
    # mmdet keeps the top-k of queries x classes (one class here)
    max_per_image = min(max_per_image, num_queries)
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


def prompt_boxes(shape, num):
    """``num`` distinct rectangular prompts tiling the image."""
    h, w = shape
    prompts = []
    for i in range(num):
        y0 = (i * 7) % 4 * h // 8
        x0 = (i * 5) % 4 * w // 8
        mask = torch.zeros((h, w), dtype=torch.bool)
        mask[y0:y0 + h // 2, x0:x0 + w // 2] = True
        prompts.append(mask)
    return prompts


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


#: Workloads of the memory probes.
MEMORY_WORKLOADS = ('one_step', 'session')


def load_config(args) -> Config:
    """``args.config`` with ``args.cfg_options`` merged in."""
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def build_models(args, with_m2f=True):
    register_all_modules()
    register_safe_checkpoint_loader()  # --checkpoint is read weights-only
    if args.msda_pytorch:
        import mmcv.ops.multi_scale_deform_attn as msda
        msda.IS_CUDA_AVAILABLE = False
    cfg = load_config(args)
    aims = MODELS.build(cfg.model)
    if args.checkpoint:
        load_checkpoint(aims, args.checkpoint, map_location='cpu')
    aims = aims.to(args.device).eval()
    m2f = None
    if with_m2f:
        m2f = MODELS.build(ConfigDict(build_mask2former_cfg(cfg.model)))
        m2f = m2f.to(args.device).eval()
    return aims, m2f


def workloads(aims, args):
    """The one-step and session workloads of the memory measurement."""
    inputs, samples = make_batch(aims, args.shape, args.device)
    prompts = prompt_boxes(args.shape, args.num_prompts)

    def one_step():
        aims.predict(inputs, copy.deepcopy(samples))

    def session():
        feats = aims.extract_feat(inputs)  # kept for the prompts
        aims.predict_prompts(
            feats,
            samples,
            prompts,
            args.prompt_decoder,
            batch_size=args.num_prompts)

    return dict(one_step=one_step, session=session)


def peak_rss_bytes():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes():
    import os
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def memory_probe(args):
    """Run one workload once in this (fresh) process and print the growth
    of the peak resident set it caused, in bytes."""
    aims, _ = build_models(args, with_m2f=False)
    fn = workloads(aims, args)[args.memory_probe]
    before = current_rss_bytes()
    with torch.no_grad():
        fn()
    print(f'PEAK_BYTES {max(peak_rss_bytes() - before, 0)}')


def measure_memory(aims, args):
    """Peak memory of each workload above what was allocated before."""
    peaks = {}
    if torch.device(args.device).type == 'cuda':
        fns = workloads(aims, args)
        with torch.no_grad():
            for name, fn in fns.items():
                fn()  # warm-up: kernels and workspaces of the first call
                torch.cuda.synchronize()
                base = torch.cuda.memory_allocated()
                torch.cuda.reset_peak_memory_stats()
                fn()
                torch.cuda.synchronize()
                peaks[name] = torch.cuda.max_memory_allocated() - base
        return peaks
    import subprocess
    import sys
    for name in MEMORY_WORKLOADS:
        out = subprocess.run(
            [sys.executable, __file__, *sys.argv[1:], '--memory-probe', name],
            check=True,
            capture_output=True,
            text=True).stdout
        line = [x for x in out.splitlines() if x.startswith('PEAK_BYTES')]
        if not line:
            raise RuntimeError(f'memory probe {name} printed no PEAK_BYTES '
                               f'line:\n{out}')
        peaks[name] = int(line[-1].split()[1])
    return peaks


def fmt_ms(seconds):
    return f'{seconds * 1000:.1f} ms'


def onnx_prompt_decoder(aims, feats, samples, prompt, args, tmp_dir):
    """The timed functions of the prompt decoder pass in PyTorch and in
    ONNX Runtime (exported to ``tmp_dir``), with the inputs of one prompt
    on the cached features, and the ONNX Runtime providers used."""
    import onnxruntime as ort

    from mmaims.deployment import prompt_decoder
    from mmaims.deployment.onnx_export import export_decoder_pass
    from mmaims.structures.prompt_geometry import prompt_to_input
    mask_features, memorys = feats
    prompt_input = prompt_to_input(prompt, samples[0].metainfo,
                                   mask_features.device)[None].float()
    module = prompt_decoder(aims, args.prompt_decoder)
    cpu_module = module
    if torch.device(args.device).type != 'cpu':
        # traced on the CPU: mmcv's deformable attention takes its
        # PyTorch path there
        cpu_module = prompt_decoder(
            copy.deepcopy(aims).cpu(), args.prompt_decoder)
    inputs = [mask_features, *memorys, prompt_input]
    path = f'{tmp_dir}/{args.prompt_decoder}.onnx'
    names = export_decoder_pass(cpu_module, [t.cpu() for t in inputs[:-1]],
                                prompt_input.cpu(), path)
    providers = ['CPUExecutionProvider']
    if torch.device(args.device).type == 'cuda' and \
            'CUDAExecutionProvider' in ort.get_available_providers():
        providers.insert(0, 'CUDAExecutionProvider')
    session = ort.InferenceSession(path, providers=providers)
    feed = {name: t.cpu().numpy() for name, t in zip(names, inputs)}
    return dict(
        pytorch=lambda: module(*inputs),
        onnxruntime=lambda: session.run(None, feed)), session.get_providers()


def main():
    args = parse_args()
    if args.memory_probe:
        memory_probe(args)
        return
    aims, m2f = build_models(args)
    device = args.device
    inputs, samples = make_batch(aims, args.shape, device)
    m2f_inputs, m2f_samples = make_batch(m2f, args.shape, device)
    h, w = args.shape
    prompts = prompt_boxes(args.shape, args.num_prompts)
    subsets = args.subsets or [aims.prompt_decoder_subset]
    n = args.num_prompts

    def with_subset(subset, fn):

        def run():
            aims.prompt_decoder_subset = subset
            fn()

        return run

    print(f'input {h}x{w} (padded {tuple(inputs.shape[-2:])}), device '
          f'{device}, config {args.config}, prompts on the '
          f'{args.prompt_decoder} decoder')
    with torch.no_grad():
        feats = aims.extract_feat(inputs)
        fns = {
            'one-step':
            lambda: aims.predict(inputs, copy.deepcopy(samples)),
            'mask2former':
            lambda: m2f.predict(m2f_inputs, copy.deepcopy(m2f_samples)),
        }
        for subset in subsets:
            fns[f'prompt/{subset}'] = with_subset(
                subset, lambda: aims.predict_prompt(
                    feats, prompts[0], args.prompt_decoder, samples))
            fns[f'prompts{n}/{subset}'] = with_subset(
                subset, lambda: aims.predict_prompts(
                    feats, samples, prompts, args.prompt_decoder,
                    batch_size=n))
        onnx_providers = None
        with tempfile.TemporaryDirectory() as tmp_dir:
            if args.onnx:
                # the config's first subset, as the memory probe uses
                aims.prompt_decoder_subset = subsets[0]
                onnx_fns, onnx_providers = onnx_prompt_decoder(
                    aims, feats, samples, prompts[0], args, tmp_dir)
                for name, fn in onnx_fns.items():
                    fns[f'prompt-decoder/{name}'] = fn
            medians = time_interleaved(fns, args.repeat, args.warmup, device)
    aims.prompt_decoder_subset = subsets[0]
    peaks = None if args.no_memory else measure_memory(aims, args)

    t_aims, t_m2f = medians['one-step'], medians['mask2former']
    print('\n| measurement | value | target |')
    print('|---|---|---|')
    print(f'| AIMS one-step / Mask2Former ({fmt_ms(t_aims)} / '
          f'{fmt_ms(t_m2f)}) | {t_aims / t_m2f:.2f}x | <= 1.20x |')
    for subset in subsets:
        t_one = medians[f'prompt/{subset}']
        t_n = medians[f'prompts{n}/{subset}']
        print(f'| one cached prompt / one-step, subset {subset} '
              f'({fmt_ms(t_one)}) | {t_one / t_aims:.3f}x | <= 0.15x |')
        print(f'| per prompt of {n} batched / one-step, subset {subset} '
              f'({fmt_ms(t_n)} for {n}) | {t_n / n / t_aims:.4f}x | '
              '<= 0.05x |')
    if onnx_providers is not None:
        t_ort = medians['prompt-decoder/onnxruntime']
        t_torch = medians['prompt-decoder/pytorch']
        print(f'| prompt decoder, ONNX Runtime / PyTorch ({fmt_ms(t_ort)} / '
              f'{fmt_ms(t_torch)}, one prompt on cached features, subset '
              f'{subsets[0]}, no post-processing, ONNX Runtime on '
              f'{onnx_providers[0]}) | {t_ort / t_torch:.2f}x | - |')
    if peaks is not None:
        mib = 2.0**20
        print(f'| peak memory, session with {n} prompts / one-step '
              f'({peaks["session"] / mib:.1f} MiB / '
              f'{peaks["one_step"] / mib:.1f} MiB, subset {subsets[0]}) | '
              f'{peaks["session"] / max(peaks["one_step"], 1):.2f}x | '
              '<= 1.50x |')


if __name__ == '__main__':
    main()
