# Copyright (c) mmaims contributors. All rights reserved.
"""COCO panoptic (``panoptic_{train,val}2017.json`` + PNGs) -> entity level.

Each ``segments_info`` entry becomes one entity whose mask is
``rgb2id(png) == segment id``; stuff segments stay one entity even when
disconnected; crowd segments become ``iscrowd: 1`` entities (ignore regions);
id 0 (VOID) is no entity and lies outside the image's ``valid_region``.
:func:`convert_panoptic_json` and :func:`convert_panoptic_record` are the
file and image halves that the other sources in this format (COCO-PSG,
ADE20K panoptic) reuse.
"""
import os.path as osp
from functools import partial
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from mmaims.structures import ENTITY, encode_mask
from .common import (ConversionError, ConversionReport, HierarchicalCocoWriter,
                     WorkerResult, image_record, index_images, load_json,
                     make_annotation, map_with_progress, read_panoptic_png,
                     require_keys)

SOURCE = 'coco'

# image_keys(image) -> (extra images[] keys, error context or None)
ImageKeys = Callable[[dict], Tuple[dict, Optional[str]]]


def convert_panoptic_record(record: dict,
                            image: dict,
                            png_dir: str,
                            source: str,
                            img_prefix: str = '',
                            extra_image_keys: Optional[dict] = None,
                            where: Optional[str] = None) -> WorkerResult:
    """Convert the segments of one panoptic PNG to entity annotations.

    Shared by the COCO panoptic and COCO-PSG converters.

    Args:
        record (dict): ``{'file_name': png name, 'segments_info': [...]}``.
        image (dict): ``{'id', 'file_name', 'height', 'width'}`` of the
            output image record (``id`` already final).
        png_dir (str): Directory the PNG ``file_name`` is relative to.
        source (str): ``images[].source`` value.
        img_prefix (str): Prepended to ``image['file_name']``.
        extra_image_keys (dict, optional): More ``images[]`` keys.
        where (str, optional): Error context; default ``image id N``.

    Returns:
        tuple: ``(image or None, annotations with local ids, report)``.
        Annotation local ids are the segment's index in ``segments_info``.
        The report counts units ``images`` and ``segments``.
    """
    where = where or f'image id {image["id"]}'
    report = ConversionReport(source)
    report.read('images')
    segments = record.get('segments_info')
    if not isinstance(segments, list):
        raise ConversionError(f'{where}: "segments_info" must be a list')
    report.read('segments', len(segments))
    if not segments:
        report.skip('images', 'no_segments')
        return None, [], report

    ids = read_panoptic_png(
        osp.join(png_dir, record['file_name']), image['height'],
        image['width'], where)
    present, pixel_counts = np.unique(ids, return_counts=True)
    present_counts = dict(zip(present.tolist(), pixel_counts.tolist()))

    seen: Dict[int, int] = {}
    anns = []
    for index, seg in enumerate(segments):
        require_keys(seg, ['id'], f'{where}, segment #{index}')
        seg_id = int(seg['id'])
        if seg_id == 0:
            raise ConversionError(
                f'{where}: segment #{index} has id 0, which is VOID in the '
                'panoptic format')
        if seg_id in seen:
            raise ConversionError(
                f'{where}: segment id {seg_id} occurs twice in segments_info '
                f'(#{seen[seg_id]} and #{index})')
        seen[seg_id] = index
        count = present_counts.get(seg_id, 0)
        if count == 0:
            report.skip('segments', 'empty_mask')
            continue
        if 'area' in seg and int(seg['area']) != count:
            report.stat('segment_area_differs_from_png')
        anns.append(
            make_annotation(
                index,
                encode_mask(ids == seg_id),
                ENTITY,
                iscrowd=int(seg.get('iscrowd', 0)),
                category_id=seg.get('category_id'),
                source_segment_id=seg_id))

    unknown = sorted(set(present_counts) - set(seen) - {0})
    if unknown:
        raise ConversionError(
            f'{where}: PNG "{record["file_name"]}" has segment id(s) '
            f'{unknown[:10]} that are not in segments_info')

    void = present_counts.get(0, 0)
    report.stat('void_pixels', void)
    if not any(a['iscrowd'] == 0 for a in anns):
        report.skip('images', 'no_entity')
        report.skip('segments', 'image_skipped', len(anns))
        return None, [], report

    report.keep('images')
    report.keep('segments', len(anns))
    report.stat('crowd_segments', sum(a['iscrowd'] for a in anns))
    img = image_record(
        image['id'],
        img_prefix + image['file_name'],
        image['height'],
        image['width'], [ENTITY],
        source,
        valid_region=encode_mask(ids != 0) if void else None,
        **(extra_image_keys or {}))
    return img, anns, report


def convert_panoptic_item(item: tuple, png_dir: str, img_prefix: str,
                          source: str) -> WorkerResult:
    """Convert one item of :func:`convert_panoptic_json`.

    Args:
        item (tuple): ``(record, image, extra_image_keys, where)``.
        png_dir (str): Directory the PNG ``file_name`` is relative to.
        img_prefix (str): Prepended to ``image['file_name']``.
        source (str): ``images[].source`` value.

    Returns:
        tuple: As :func:`convert_panoptic_record`.
    """
    record, image, extra_image_keys, where = item
    return convert_panoptic_record(
        record,
        image,
        png_dir,
        source,
        img_prefix=img_prefix,
        extra_image_keys=extra_image_keys,
        where=where)


def _coco_image_keys(image: dict) -> Tuple[dict, None]:
    return dict(coco_image_id=image['id'], source_image_id=image['id']), None


def convert_coco_panoptic(ann_file: str,
                          png_dir: str,
                          out_file: str,
                          img_prefix: str = '',
                          nproc: int = 1) -> ConversionReport:
    """Convert a COCO panoptic annotation file to the hierarchical format.

    Args:
        ann_file (str): ``panoptic_{train,val}2017.json``.
        png_dir (str): Folder of the PNGs (``panoptic_{train,val}2017/``).
        out_file (str): Output JSON; the report goes to
            ``OUT.report.json``.
        img_prefix (str): Prepended to every ``file_name`` so that it
            resolves from the dataset's ``data_prefix`` (e.g. ``'val2017/'``).
        nproc (int): Worker processes decoding PNGs.

    Returns:
        ConversionReport: Units ``images`` and ``segments``; stats
        ``void_pixels``, ``crowd_segments`` and
        ``segment_area_differs_from_png``.

    Raises:
        ConversionError: A listed PNG is missing or of the wrong size, a PNG
            holds a segment id that ``segments_info`` lacks, an annotation
            names an unknown image, ids repeat.
    """
    data = load_json(ann_file, 'COCO panoptic annotation file')
    return convert_panoptic_json(data, ann_file, png_dir, out_file,
                                 'COCO panoptic', SOURCE, _coco_image_keys,
                                 img_prefix, nproc)


def convert_panoptic_json(
        data: dict,
        ann_file: str,
        png_dir: str,
        out_file: str,
        name: str,
        source: str,
        image_keys: ImageKeys,
        img_prefix: str = '',
        nproc: int = 1,
        worker: Optional[Callable[..., WorkerResult]] = None,
        report: Optional[ConversionReport] = None) -> ConversionReport:
    """Convert a loaded file in the COCO panoptic format (JSON + PNGs).

    The file-level half shared by the converters of sources distributed in
    this format (COCO panoptic, ADE20K panoptic): it pairs every
    ``annotations[]`` record with its ``images[]`` entry, checks the pairing
    and streams the converted images to ``out_file``.

    Args:
        data (dict): The loaded JSON (``images``, ``annotations``, optional
            ``categories``, which are copied to the output).
        ann_file (str): Its path, for error messages and ``info``.
        png_dir (str): Folder of the PNGs.
        out_file (str): Output JSON; the report goes to
            ``OUT.report.json``.
        name (str): The source's name in ``info`` and the progress bar.
        source (str): ``images[].source`` value and report name.
        image_keys (callable): ``image_keys(image)`` ->
            ``(extra images[] keys, error context or None)`` for one
            ``images[]`` entry (called in this process).
        img_prefix (str): Prepended to every ``file_name``.
        nproc (int): Worker processes decoding PNGs.
        worker (callable, optional): Converts one item; default
            :func:`convert_panoptic_item`. A replacement takes the same
            arguments (e.g. a wrapper that checks its result) and is
            picklable for ``nproc > 1``.
        report (ConversionReport, optional): Report to add to (counts made
            before this call); a new one by default.

    Returns:
        ConversionReport: The report, also written to ``OUT.report.json``.

    Raises:
        ConversionError: An annotation names an unknown image, an image has
            two annotations, image ids repeat, or ``worker`` raises.
    """
    require_keys(data, ['images', 'annotations'], ann_file)
    images = index_images(data['images'], ann_file)
    if report is None:
        report = ConversionReport(source)
    items = []
    annotated = set()
    for record in data['annotations']:
        require_keys(
            record, ['image_id', 'file_name', 'segments_info'],
            f'{ann_file}: annotation of image {record.get("image_id")}')
        img_id = record['image_id']
        if img_id not in images:
            raise ConversionError(
                f'{ann_file}: annotation "{record["file_name"]}" names image '
                f'id {img_id}, which is not in images[]')
        if img_id in annotated:
            raise ConversionError(
                f'{ann_file}: image id {img_id} has two panoptic annotations')
        annotated.add(img_id)
        items.append((record, images[img_id]) + image_keys(images[img_id]))
    missing = len(images) - len(annotated)
    report.read('images', missing)
    report.skip('images', 'no_panoptic_annotation', missing)

    writer = HierarchicalCocoWriter(
        out_file,
        info=dict(
            description=f'{name} converted by mmaims',
            source_file=osp.basename(ann_file)),
        categories=data.get('categories', []))
    worker = partial(
        worker or convert_panoptic_item,
        png_dir=png_dir,
        img_prefix=img_prefix,
        source=source)
    for img, anns, part_report in map_with_progress(
            worker, items, nproc, total=len(items), desc=name.lower()):
        report.merge(part_report)
        if img is not None:
            writer.add(img, anns)
    writer.close(report)
    return report
