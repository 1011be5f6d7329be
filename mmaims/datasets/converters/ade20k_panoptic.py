# Copyright (c) mmaims contributors. All rights reserved.
"""ADE20K panoptic (``ade20k_panoptic_{train,val}.json`` + PNGs) -> entity.

ADE20K's 150-class panoptic set, as Mask2Former's
``datasets/prepare_ade20k_pan_seg.py`` builds it from ADEChallengeData2016
(SceneParsing: 20,210 training and 2,000 validation images), is in the COCO
panoptic format, so this converter is the COCO panoptic one
(:func:`convert_panoptic_json`, :func:`convert_panoptic_item`) with
ADE20K's source name and its differences handled first:

* image ids are the file stems (``"ADE_val_00000001"``), strings: the output
  id is the number (1), the stem is kept as ``source_image_id`` and the
  split as ``source_split``;
* ``category_id`` is 0-based (0 = wall) and only ``categories[]`` says
  ``isthing``; the report counts thing and stuff segments;
* files made by mmdet's ``tools/dataset_converters/ade20k2coco.py`` name the
  JPEG in the records (the PNG has the same stem) and give two stuff
  classes the same colour, hence the same segment id.

Every segment, thing or stuff, becomes one entity; VOID (id 0) lies outside
``valid_region``. docs/converters.md section 7 has the details.
"""
import os.path as osp
import re
from collections import Counter
from functools import partial
from typing import Dict, Optional, Tuple

from .coco_panoptic import convert_panoptic_item, convert_panoptic_json
from .common import (ConversionError, ConversionReport, WorkerResult,
                     load_json, require_keys)

SOURCE = 'ade20k'

_ADE_NAME = re.compile(r'^ADE_(train|val)_(\d+)$')

# In mmdet's ade20k2coco.py palette, road, route (6) and skyscraper (48)
# share (140, 140, 140); Mask2Former's script gives skyscraper
# (140, 140, 200).
_SHARED_ID_HINT = (
    'the PNG cannot tell these segments apart. Files made by mmdet\'s '
    'tools/dataset_converters/ade20k2coco.py do this to "road, route" (6) '
    'and "skyscraper" (48), whose palette colours are both (140, 140, 140); '
    'make the panoptic files with Mask2Former\'s '
    'datasets/prepare_ade20k_pan_seg.py instead (docs/converters.md '
    'section 7)')


def ade20k_image_id(name, where: str) -> Tuple[int, Optional[str]]:
    """Integer image id and split of an ADE20K panoptic image id.

    Args:
        name (str | int): ``images[].id`` of the source file: an ADE20K
            stem (``"ADE_train_00000001"`` -> 1, split ``"train"``), a
            string of digits or an int (kept, no split).
        where (str): Error context (the file).

    Returns:
        tuple[int, str | None]: The id and the split.

    Raises:
        ConversionError: Any other id.
    """
    if isinstance(name, int) and not isinstance(name, bool):
        return name, None
    if isinstance(name, str):
        match = _ADE_NAME.match(name)
        if match:
            return int(match.group(2)), match.group(1)
        if name.isdigit():
            return int(name), None
    raise ConversionError(
        f'{where}: image id {name!r} is neither an ADE20K file stem '
        '("ADE_train_00000001", "ADE_val_00000001") nor an integer')


def _normalise(data: dict, ann_file: str,
               report: ConversionReport) -> Dict[int, int]:
    """Turn the source's string ids into ints (in place) and check what the
    shared COCO panoptic code cannot; return ``{category id: isthing}``."""
    require_keys(data, ['images', 'annotations', 'categories'], ann_file)
    isthing = {}
    for cat in data['categories']:
        require_keys(cat, ['id', 'isthing'], f'{ann_file}: category '
                     f'{cat.get("id")}')
        isthing[cat['id']] = int(cat['isthing'])
    new_ids, names = {}, {}
    for img in data['images']:
        require_keys(img, ['id'], f'{ann_file}: image {img.get("file_name")}')
        name = img['id']
        img_id, split = ade20k_image_id(name, ann_file)
        if img_id in names:
            raise ConversionError(
                f'{ann_file}: images {names[img_id]!r} and {name!r} both '
                f'have id {img_id}; convert the ADE20K train and val files '
                'separately')
        names[img_id] = name
        new_ids[name] = img_id
        img.update(id=img_id, source_image_id=name, source_split=split)
    jpg_named = 0
    for record in data['annotations']:
        require_keys(
            record, ['image_id', 'file_name'],
            f'{ann_file}: annotation of image {record.get("image_id")}')
        name = record['image_id']
        if name not in new_ids:
            raise ConversionError(
                f'{ann_file}: annotation "{record["file_name"]}" names image '
                f'id {name!r}, which is not in images[]')
        record['image_id'] = new_ids[name]
        stem, ext = osp.splitext(record['file_name'])
        if ext.lower() in ('.jpg', '.jpeg'):
            record['file_name'] = stem + '.png'
            jpg_named += 1
        segments = record.get('segments_info')
        if isinstance(segments, list):
            counts = Counter(seg['id'] for seg in segments
                             if isinstance(seg, dict) and 'id' in seg)
            shared = sorted(i for i, n in counts.items() if n > 1)
            if shared:
                raise ConversionError(
                    f'{ann_file}: image {name!r}: segment id {shared[0]} '
                    f'occurs {counts[shared[0]]} times in segments_info; ' +
                    _SHARED_ID_HINT)
    if jpg_named:
        report.stat('png_name_from_jpg', jpg_named)
        report.note(f'{jpg_named} annotation records name the JPEG (the '
                    'layout of mmdet\'s ade20k2coco.py); their PNG was read '
                    'as the same stem + ".png"')
    return isthing


def _ade20k_image_keys(image: dict) -> Tuple[dict, str]:
    return dict(
        source_image_id=image['source_image_id'],
        source_split=image['source_split']
    ), f'image "{image["source_image_id"]}"'


def _convert_one(item: tuple, isthing: Dict[int, int],
                 **kwargs) -> WorkerResult:
    img, anns, report = convert_panoptic_item(item, **kwargs)
    for ann in anns:
        category = ann.get('category_id')
        if category not in isthing:
            raise ConversionError(
                f'{item[3]}: segment id {ann["source_segment_id"]} has '
                f'category_id {category}, which is not in categories[]')
        report.stat(
            'thing_segments' if isthing[category] else 'stuff_segments')
    return img, anns, report


def convert_ade20k_panoptic(ann_file: str,
                            png_dir: str,
                            out_file: str,
                            img_prefix: str = '',
                            nproc: int = 1) -> ConversionReport:
    """Convert an ADE20K panoptic annotation file to the hierarchical format.

    Every ``segments_info`` segment, thing or stuff, becomes one entity
    (``category_id`` kept, 0-based as in the source); every kept image gets
    ``levels = ["entity"]``, ``source = "ade20k"`` and, when it has VOID
    pixels, ``valid_region`` = the non-VOID pixels.

    Args:
        ann_file (str): ``ade20k_panoptic_{train,val}.json``.
        png_dir (str): Folder of its PNGs (``ade20k_panoptic_{train,val}/``).
        out_file (str): Output JSON; the report goes to
            ``OUT.report.json``.
        img_prefix (str): Prepended to every ``file_name`` so that it
            resolves from the dataset's ``data_prefix`` (e.g.
            ``'ADEChallengeData2016/images/validation/'``).
        nproc (int): Worker processes decoding PNGs.

    Returns:
        ConversionReport: Units ``images`` and ``segments`` (skip reasons as
        for COCO panoptic); stats ``void_pixels``, ``thing_segments``,
        ``stuff_segments``, ``segment_area_differs_from_png``,
        ``crowd_segments`` and ``png_name_from_jpg``.

    Raises:
        ConversionError: An image id that is not an ADE20K stem or an int,
            two images with the same id, a segment of an unknown category,
            a segment id listed twice, and every error of
            :func:`convert_coco_panoptic` (missing or mis-sized PNG, a PNG
            segment id that ``segments_info`` lacks, ...).
    """
    data = load_json(ann_file, 'ADE20K panoptic annotation file')
    report = ConversionReport(SOURCE)
    isthing = _normalise(data, ann_file, report)
    return convert_panoptic_json(
        data,
        ann_file,
        png_dir,
        out_file,
        'ADE20K panoptic',
        SOURCE,
        _ade20k_image_keys,
        img_prefix=img_prefix,
        nproc=nproc,
        worker=partial(_convert_one, isthing=isthing),
        report=report)
