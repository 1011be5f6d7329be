# Copyright (c) mmaims contributors. All rights reserved.
"""Write the embedded synthetic AIMS dataset.

Example::

    python tools/misc/make_synthetic_dataset.py data/aims_synthetic \
        --num-images 1000 --seed 0

writes ``images/{train,val}/*.png`` and ``annotations/{train,val}.json``
(hierarchical COCO, ``docs/formats.md`` section 1). The same seed
gives the same bytes. ``--profile table1`` writes the sources with the
paper's Table 1 annotation inconsistency instead
(:mod:`mmaims.datasets.synthetic_table1`, ``docs/data.md``) and prints
the measured unannotated fraction of each source::

    python tools/misc/make_synthetic_dataset.py data/aims_synthetic_table1 \
        --profile table1 --num-images 1000 --size 96 --seed 0

``--profile thin`` writes high-resolution entity scenes with thin
structures (railings, lattices, wires;
:mod:`mmaims.datasets.synthetic_thin`, CropFormer's CPU evidence in
``docs/cropformer.md``)::

    python tools/misc/make_synthetic_dataset.py data/aims_thin \
        --profile thin --num-images 600 --size 256 --seed 0
"""
import argparse
import time

from mmaims.datasets.synthetic import (SOURCES, VAL_SOURCES,
                                       make_synthetic_dataset)
from mmaims.datasets.synthetic_table1 import (ALL_TABLE1_SOURCES,
                                              make_table1_dataset)
from mmaims.datasets.synthetic_thin import make_thin_dataset


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the synthetic AIMS dataset')
    parser.add_argument('out_dir', help='output directory')
    parser.add_argument(
        '--num-images', type=int, default=1000, help='train images')
    parser.add_argument(
        '--num-val',
        type=int,
        default=None,
        help='val images (default: num-images // 5, at least 2)')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument(
        '--profile',
        choices=('default', 'table1', 'thin'),
        default='default',
        help='default: the main job\'s four sources; table1: five sources '
        'with the annotation inconsistency of the paper\'s Table 1; thin: '
        'high-resolution entity scenes with thin structures (give --size '
        '256); --train-sources / --val-sources apply to default only')
    parser.add_argument(
        '--size', type=int, default=128, help='image side in pixels')
    parser.add_argument(
        '--train-sources',
        nargs='+',
        default=list(SOURCES),
        choices=SOURCES,
        help='sources of the train split (they take turns)')
    parser.add_argument(
        '--val-sources',
        nargs='+',
        default=list(VAL_SOURCES),
        choices=SOURCES,
        help='sources of the val split')
    parser.add_argument(
        '--no-progress', action='store_true', help='hide the progress bar')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.num_images < 0 or (args.num_val is not None and args.num_val < 0):
        raise SystemExit('--num-images and --num-val must be >= 0')
    start = time.time()
    if args.profile == 'table1':
        paths = make_table1_dataset(
            args.out_dir,
            num_images=args.num_images,
            num_val=args.num_val,
            seed=args.seed,
            size=args.size,
            progress=not args.no_progress)
        print('\nunannotated fraction per source (measured / Table 1):')
        for source, value in paths['unannotated'].items():
            target = 1 - ALL_TABLE1_SOURCES[source].annotated
            print(f'  {source:14s} {100 * value:5.1f} % / '
                  f'{100 * target:5.1f} %')
        print(f'wrote {paths["train"]} and {paths["val"]} '
              f'in {time.time() - start:.1f} s')
        return
    if args.profile == 'thin':
        paths = make_thin_dataset(
            args.out_dir,
            num_images=args.num_images,
            num_val=args.num_val,
            seed=args.seed,
            size=args.size,
            progress=not args.no_progress)
        print(f'\nwrote {paths["train"]} and {paths["val"]} '
              f'in {time.time() - start:.1f} s')
        return
    paths = make_synthetic_dataset(
        args.out_dir,
        num_images=args.num_images,
        num_val=args.num_val,
        seed=args.seed,
        size=args.size,
        train_sources=args.train_sources,
        val_sources=args.val_sources,
        progress=not args.no_progress)
    print(f'\nwrote {paths["train"]} and {paths["val"]} '
          f'in {time.time() - start:.1f} s')


if __name__ == '__main__':
    main()
