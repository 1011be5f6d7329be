# Copyright (c) mmaims contributors. All rights reserved.
"""Check a hierarchical COCO annotation file and its images in one pass,
before a long training.

Where the dataset stops at the first problem, this lists every problem:

- each image's records (levels, masks, links, ``valid_region``: the checks
  of :func:`mmaims.structures.parse_annotations`, with the strict relations
  the dataset uses), image by image, so one bad image does not hide the
  next;
- ids: duplicate image ids, annotations of an unknown image;
- image files (with ``--img-root``): missing, unreadable or truncated,
  or of another size than the ``height`` / ``width`` of their record
  (masks would be shifted against the pixels).

Example::

    python tools/misc/check_dataset.py data/aims/split/train.json \\
        --img-root data/

Exit status: 0 when the file and its images are fine, 1 with the list of
problems otherwise.
"""
import argparse
import os.path as osp
import sys
from collections import Counter, defaultdict
from typing import List, Optional, Sequence

import cv2
import numpy as np
from tqdm import tqdm

from mmaims.structures.annotations import (HierarchicalAnnotationError,
                                           load_annotation_file,
                                           parse_annotations)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='List every problem of an annotation file and its '
        'images')
    parser.add_argument('ann_file', help='hierarchical COCO JSON')
    parser.add_argument(
        '--img-root',
        help='folder that images[].file_name is relative to; without it the '
        'image files are not checked')
    return parser.parse_args(argv)


def check_annotations(doc: dict, file_name: str) -> List[str]:
    """Every problem of a decoded annotation file, one line each."""
    problems = []
    if not isinstance(doc, dict) or not isinstance(doc.get('images'), list):
        return [f'{file_name}: not an annotation file (no "images" list)']
    images = [img for img in doc['images'] if isinstance(img, dict)]
    counts = Counter(img.get('id') for img in images)
    problems += [
        f'{file_name}: image id {i}: duplicate image id ({n} images)'
        for i, n in counts.items() if n > 1
    ]
    by_image = defaultdict(list)
    for ann in doc.get('annotations') or []:
        if not isinstance(ann, dict) or ann.get('image_id') not in counts:
            problems.append(
                f'{file_name}: annotation id '
                f'{ann.get("id") if isinstance(ann, dict) else ann!r}: '
                'unknown image id '
                f'{ann.get("image_id") if isinstance(ann, dict) else None}')
            continue
        by_image[ann['image_id']].append(ann)
    for img in tqdm(images, desc='records', unit='img', disable=None):
        single = dict(images=[img], annotations=by_image.get(img.get('id')))
        single['annotations'] = single['annotations'] or []
        try:
            parse_annotations(single, file_name, strict_relations=True)
        except HierarchicalAnnotationError as e:
            problems.append(str(e))
    return problems


def check_images(doc: dict, img_root: str, file_name: str) -> List[str]:
    """Problems of the image files: missing, unreadable, truncated, or of
    another size than their record."""
    problems = []
    for img in tqdm(doc.get('images', []), desc='images', unit='img',
                    disable=None):
        where = f'{file_name}: image id {img.get("id")}'
        name = img.get('file_name')
        if not name:
            problems.append(f'{where}: no "file_name"')
            continue
        path = osp.join(img_root, name)
        if not osp.isfile(path):
            problems.append(f'{where}: image file {path} does not exist')
            continue
        data = np.fromfile(path, dtype=np.uint8)
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size \
            else None
        if image is None:
            problems.append(f'{where}: image file {path} cannot be read '
                            '(empty, truncated or not an image)')
            continue
        if _truncated(data):
            problems.append(f'{where}: image file {path} is truncated')
            continue
        h, w = image.shape[:2]
        if (h, w) != (img.get('height'), img.get('width')):
            problems.append(
                f'{where}: image file {path} is {h} x {w} but its record '
                f'says {img.get("height")} x {img.get("width")}')
    return problems


def _truncated(data: np.ndarray) -> bool:
    """Whether a PNG lacks its IEND chunk or a JPEG its end-of-image
    marker (OpenCV still decodes such files, filling the missing rows)."""
    raw = data.tobytes()
    if raw.startswith(b'\x89PNG'):
        return b'IEND' not in raw[-16:]
    if raw.startswith(b'\xff\xd8'):
        return not raw.rstrip(b'\x00').endswith(b'\xff\xd9')
    return False


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        doc = load_annotation_file(args.ann_file)
    except (HierarchicalAnnotationError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    problems = check_annotations(doc, args.ann_file)
    if args.img_root is not None:
        problems += check_images(doc, args.img_root, args.ann_file)
    num_images = len(doc.get('images', []))
    if problems:
        print(f'{len(problems)} problem(s) in {args.ann_file} '
              f'({num_images} images):')
        for line in problems:
            print(f'  {line}')
        return 1
    checked = 'records and image files' if args.img_root else 'records'
    print(f'{args.ann_file}: {num_images} images, no problem found '
          f'({checked} checked)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
