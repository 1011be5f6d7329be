# Copyright (c) mmaims contributors. All rights reserved.
"""Write the embedded synthetic AIMS dataset.

Example::

    python tools/misc/make_synthetic_dataset.py data/aims_synthetic \
        --num-images 1000 --seed 0

writes ``images/{train,val}/*.png`` and ``annotations/{train,val}.json``
(hierarchical COCO, ``docs/formats.md`` section 1). The same seed
gives the same bytes.
"""
import argparse
import time

from mmaims.datasets.synthetic import (SOURCES, VAL_SOURCES,
                                       make_synthetic_dataset)


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
