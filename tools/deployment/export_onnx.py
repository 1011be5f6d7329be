# Copyright (c) mmaims contributors. All rights reserved.
"""Export an AIMS model to ONNX: the image encoder and the decoder passes
(one-step, and one per prompt decoder), with a JSON file for the runner
``tools/deployment/ort_runner.py`` (docs/deployment.md)::

    python tools/deployment/export_onnx.py configs/aims/aims_r18_synthetic.py \
        work_dirs/aims_r18_synthetic/iter_36000.pth --out work_dirs/onnx

Every graph has a dynamic height and width; the runner pads the image to a
multiple of the config's ``pad_size_divisor`` as the data preprocessor
does. Unless ``--no-verify``, the graphs are run with ONNX Runtime at the
traced size and at a second size and the largest difference to PyTorch is
printed.
"""
import argparse
import logging

from mmengine.config import DictAction
from mmengine.logging import MMLogger


def parse_args():
    parser = argparse.ArgumentParser(
        description='Export AIMS (image encoder + decoder passes) to ONNX')
    parser.add_argument('config', help='AIMS config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument(
        '--opset', type=int, default=17, help='ONNX opset (>= 16)')
    parser.add_argument(
        '--image-size',
        type=int,
        nargs=2,
        default=[256, 256],
        metavar=('H', 'W'),
        help='size of the traced example input (multiples of the pad size '
        'divisor); the graphs accept any padded size')
    parser.add_argument(
        '--prompt-decoders',
        nargs='+',
        help='decoders to export a prompt pass for (default: all)')
    parser.add_argument(
        '--no-verify',
        action='store_true',
        help='do not compare the graphs with PyTorch after the export')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, as in tools/test.py')
    return parser.parse_args()


def main():
    args = parse_args()
    from mmaims.deployment import export_onnx, load_for_export

    # one INFO line per parameter otherwise (init_weights of the backbone)
    MMLogger.get_instance('mmengine').setLevel(logging.WARNING)
    model, cfg = load_for_export(args.config, args.checkpoint,
                                 args.cfg_options)
    meta = export_onnx(
        model,
        cfg,
        args.out,
        image_size=args.image_size,
        opset=args.opset,
        prompt_decoders=args.prompt_decoders,
        verify=not args.no_verify)
    files = [meta['image_encoder']['file'], meta['one_step']['file']
             ] + [p['file'] for p in meta['prompt'].values()]
    print(f'wrote {", ".join(files)} and aims_onnx.json to {args.out}')
    for size, report in meta.get('verification', {}).items():
        worst = max(v for diffs in report.values() for v in diffs.values())
        print(f'{size}: largest |ONNX Runtime - PyTorch| over all outputs '
              f'{worst:.2e}')


if __name__ == '__main__':
    main()
