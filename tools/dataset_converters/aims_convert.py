# Copyright (c) mmaims contributors. All rights reserved.
"""Convert the AIMS source datasets to hierarchical COCO files.

Examples::

    python tools/dataset_converters/aims_convert.py coco-panoptic \\
        data/coco/annotations/panoptic_train2017.json \\
        data/coco/annotations/panoptic_train2017 \\
        --img-prefix coco/train2017/ --out data/aims/coco_train.json --nproc 8
    python tools/dataset_converters/aims_convert.py entityseg \\
        data/entityseg/entityseg_train_lr.json --img-prefix entityseg/ \\
        --out data/aims/entityseg_train.json
    python tools/dataset_converters/aims_convert.py ppp data/ppp/labels \\
        --img-prefix VOC2010/JPEGImages/ --out data/aims/ppp.json
    python tools/dataset_converters/aims_convert.py paco \\
        data/paco/paco_lvis_v1_train.json --img-prefix coco/ \\
        --out data/aims/paco_train.json
    python tools/dataset_converters/aims_convert.py psg data/psg/psg.json \\
        data/coco --img-prefix coco/ --out data/aims/psg.json --nproc 8
    python tools/dataset_converters/aims_convert.py split \\
        --ppp data/aims/ppp.json --psg data/aims/psg.json \\
        --train data/aims/coco_train.json data/aims/entityseg_train.json \\
        data/aims/ppp.json data/aims/paco_train.json data/aims/psg.json \\
        --out-dir data/aims/split --seed 0
    python tools/dataset_converters/aims_convert.py ade20k-panoptic \\
        data/ade/ADEChallengeData2016/ade20k_panoptic_val.json \\
        data/ade/ADEChallengeData2016/ade20k_panoptic_val \\
        --img-prefix ade/ADEChallengeData2016/images/validation/ \\
        --out data/aims/ade20k_val.json --nproc 8

Every conversion prints a report of what it kept and skipped (by reason)
and writes it to ``OUT.report.json``. See docs/converters.md.
"""
import argparse
import os.path as osp
import sys

from mmaims.datasets.converters import (DEFAULT_CONTACT_PREDICATES,
                                        NUM_EVAL_PPP, NUM_EVAL_PSG,
                                        ConversionError, build_eval_split,
                                        convert_ade20k_panoptic,
                                        convert_coco_panoptic,
                                        convert_entityseg, convert_paco,
                                        convert_ppp, convert_psg,
                                        format_split_report)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be at least 1, got {value}')
    return value


def _add_common(parser: argparse.ArgumentParser,
                img_prefix: str = '',
                nproc: bool = False) -> None:
    parser.add_argument(
        '--out', required=True, help='output hierarchical COCO JSON')
    parser.add_argument(
        '--img-prefix',
        default=img_prefix,
        help='prepended to every images[].file_name so that it resolves from '
        f'the dataset\'s data_prefix (default: "{img_prefix}")')
    if nproc:
        parser.add_argument(
            '--nproc',
            type=_positive_int,
            default=1,
            help='worker processes (at least 1)')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert AIMS source datasets to hierarchical COCO')
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('coco-panoptic', help='COCO panoptic -> entity')
    p.add_argument('ann_file', help='panoptic_{train,val}2017.json')
    p.add_argument('png_dir', help='folder of the panoptic PNGs')
    _add_common(p, nproc=True)

    p = sub.add_parser('ade20k-panoptic', help='ADE20K panoptic -> entity')
    p.add_argument('ann_file', help='ade20k_panoptic_{train,val}.json')
    p.add_argument('png_dir', help='folder of its PNGs')
    _add_common(p, nproc=True)

    p = sub.add_parser('entityseg', help='EntitySeg -> entity')
    p.add_argument('ann_file', help='EntitySeg JSON')
    p.add_argument(
        '--img-dir',
        help='image root; if given, every image must exist with the size of '
        'its record (catches _lr JSONs paired with full-resolution images)')
    _add_common(p)

    p = sub.add_parser('ppp', help='Pascal Panoptic Parts -> part + entity')
    p.add_argument('label_root', help='PPP labels/ folder (or one split)')
    p.add_argument(
        '--spec',
        help='ppp_datasetspec.yaml of panoptic_parts: class/part names and '
        'folding of countable part ids for category_id')
    _add_common(p, img_prefix='JPEGImages/', nproc=True)

    p = sub.add_parser('paco', help='PACO -> part + entity (not exhaustive)')
    p.add_argument('ann_file', help='paco_{lvis,ego4d}_v1_*.json')
    _add_common(p)

    p = sub.add_parser('psg', help='COCO-PSG -> entity + relation')
    p.add_argument('psg_file', help='psg.json')
    p.add_argument(
        'seg_root', help='folder pan_seg_file_name is relative to (data/coco)')
    p.add_argument(
        '--predicates',
        help='comma-separated kept predicate names (default: the physical-'
        'contact list, ' + ', '.join(DEFAULT_CONTACT_PREDICATES) + ')')
    p.add_argument(
        '--touch-px',
        type=int,
        default=0,
        help='if > 0, also require the two masks to touch within this many '
        'pixels')
    p.add_argument(
        '--split',
        choices=['all', 'train', 'test'],
        default='all',
        help='records to convert, by psg.json test_image_ids')
    _add_common(p, nproc=True)

    p = sub.add_parser(
        'split', help='select evaluation sets, write leakage-free train union')
    p.add_argument('--ppp', help='converted PPP file (eval pool)')
    p.add_argument('--psg', help='converted PSG file (eval pool)')
    p.add_argument(
        '--train', nargs='+', required=True, help='converted training files')
    p.add_argument('--out-dir', required=True)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--num-ppp', type=int, default=NUM_EVAL_PPP)
    p.add_argument('--num-psg', type=int, default=NUM_EVAL_PSG)
    p.add_argument(
        '--ppp-pool',
        nargs='+',
        default=['validation'],
        help='PPP source_split values to draw from ("all" for every image)')
    p.add_argument(
        '--psg-pool',
        nargs='+',
        default=['test'],
        help='PSG source_split values to draw from ("all" for every image)')
    args = parser.parse_args(argv)
    # checked before any work, so a run cannot fail after the conversion
    out = getattr(args, 'out', None)
    if out is not None and osp.isdir(out):
        parser.error(f'--out {out} is a folder; give the JSON file to write')
    if args.command == 'split':
        if args.ppp is None and args.psg is None:
            parser.error('split needs --ppp and/or --psg: the converted files '
                         'the evaluation images are drawn from')
        if osp.isfile(args.out_dir):
            parser.error(f'--out-dir {args.out_dir} is a file; give the '
                         'folder to write the split to')
    return args


def _pool(values):
    return None if values == ['all'] else values


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.command == 'coco-panoptic':
            convert_coco_panoptic(args.ann_file, args.png_dir, args.out,
                                  args.img_prefix, args.nproc)
        elif args.command == 'ade20k-panoptic':
            convert_ade20k_panoptic(args.ann_file, args.png_dir, args.out,
                                    args.img_prefix, args.nproc)
        elif args.command == 'entityseg':
            convert_entityseg(args.ann_file, args.out, args.img_prefix,
                              args.img_dir)
        elif args.command == 'ppp':
            convert_ppp(args.label_root, args.out, args.img_prefix, args.spec,
                        args.nproc)
        elif args.command == 'paco':
            convert_paco(args.ann_file, args.out, args.img_prefix)
        elif args.command == 'psg':
            predicates = None
            if args.predicates is not None:
                predicates = [
                    p.strip() for p in args.predicates.split(',') if p.strip()
                ]
            convert_psg(args.psg_file, args.seg_root, args.out,
                        args.img_prefix, predicates, args.touch_px, args.split,
                        args.nproc)
        else:
            report = build_eval_split(
                args.train,
                args.out_dir,
                ppp_file=args.ppp,
                psg_file=args.psg,
                num_ppp=args.num_ppp,
                num_psg=args.num_psg,
                seed=args.seed,
                ppp_pool=_pool(args.ppp_pool),
                psg_pool=_pool(args.psg_pool))
            print(format_split_report(report))
    except ConversionError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
