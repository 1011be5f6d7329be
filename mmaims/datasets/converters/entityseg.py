# Copyright (c) mmaims contributors. All rights reserved.
"""EntitySeg (COCO-style JSON with RLE masks) -> entity level.

Every annotation is one entity. EntitySeg annotates densely, but pixels no
annotation covers are unlabeled, so each image's ``valid_region`` is the
union of its annotations. ``iscrowd`` is optional in the releases (default
0). The category fields differ between releases (``category_id`` is
class-agnostic in one, 0..643 in another; ``category_id_ori`` is a string):
only ``category_id`` is kept, as is. ``_lr`` files hold masks of the
low-resolution images: an RLE whose size differs from its image record, or
(with ``img_dir``) an image file whose size differs from the record, is an
error.
"""
import os.path as osp
from collections import defaultdict
from typing import Optional

from mmaims.structures import ENTITY, merge_rles, rle_area, to_rle
from .common import (ConversionError, ConversionReport, HierarchicalCocoWriter,
                     coco_id_from_file_name, image_record, index_images,
                     load_json, make_annotation, require_keys)

SOURCE = 'entityseg'


def _is_empty(segm) -> bool:
    return segm is None or (isinstance(segm, (list, dict)) and len(segm) == 0)


def _check_size(segm, img: dict, ann_id, ann_file: str) -> None:
    if isinstance(segm, dict) and 'size' in segm:
        size = [int(v) for v in segm['size']]
        if size != [img['height'], img['width']]:
            raise ConversionError(
                f'{ann_file}: annotation id {ann_id} has an RLE of size '
                f'{size} (h, w) but image id {img["id"]} '
                f'("{img["file_name"]}") is {[img["height"], img["width"]]}; '
                'the _lr annotation files belong with the low-resolution '
                'images and the others with the full-resolution ones')


def _check_image_file(img: dict, img_dir: str) -> None:
    from PIL import Image
    path = osp.join(img_dir, img['file_name'])
    if not osp.isfile(path):
        raise ConversionError(
            f'image id {img["id"]}: image file "{path}" does not exist')
    with Image.open(path) as im:
        width, height = im.size
    if (height, width) != (img['height'], img['width']):
        raise ConversionError(
            f'image id {img["id"]}: image file "{path}" is {width}x{height} '
            f'(WxH) but the annotation file says {img["width"]}x'
            f'{img["height"]}; do not pair _lr annotations with '
            'full-resolution images or vice versa')


def convert_entityseg(ann_file: str,
                      out_file: str,
                      img_prefix: str = '',
                      img_dir: Optional[str] = None) -> ConversionReport:
    """Convert an EntitySeg annotation file to the hierarchical format.

    Args:
        ann_file (str): EntitySeg JSON (e.g. ``entityseg_train_lr.json``).
        out_file (str): Output JSON; the report goes to
            ``OUT.report.json``.
        img_prefix (str): Prepended to every ``file_name``.
        img_dir (str, optional): Image root; when given, every image file
            must exist and have the size of its record (catches ``_lr``
            annotations paired with full-resolution images).

    Returns:
        ConversionReport: Units ``images`` and ``annotations``; stats
        ``iscrowd_missing``, ``crowd_annotations``, ``overlap_pixels``
        (pixels covered by more than one kept annotation, counted with
        multiplicity), ``coco_images``.

    Raises:
        ConversionError: Unknown image id, RLE size or image file size not
            matching the image record, repeated ids, an undecodable
            segmentation.
    """
    data = load_json(ann_file, 'EntitySeg annotation file')
    require_keys(data, ['images', 'annotations'], ann_file)
    images = index_images(data['images'], ann_file)
    by_image = defaultdict(list)
    ann_ids = set()
    for ann in data['annotations']:
        require_keys(ann, ['id', 'image_id', 'segmentation'],
                     f'{ann_file}: annotation {ann.get("id")}')
        if ann['id'] in ann_ids:
            raise ConversionError(
                f'{ann_file}: annotation id {ann["id"]} occurs twice')
        ann_ids.add(ann['id'])
        if ann['image_id'] not in images:
            raise ConversionError(
                f'{ann_file}: annotation id {ann["id"]} names image id '
                f'{ann["image_id"]}, which is not in images[]')
        by_image[ann['image_id']].append(ann)

    from tqdm import tqdm
    report = ConversionReport(SOURCE)
    writer = HierarchicalCocoWriter(
        out_file,
        info=dict(
            description='EntitySeg converted by mmaims',
            source_file=osp.basename(ann_file)),
        categories=data.get('categories', []))
    for img_id, img in tqdm(images.items(), desc='entityseg', unit='img'):
        report.read('images')
        src_anns = by_image.get(img_id, [])
        report.read('annotations', len(src_anns))
        if img_dir is not None:
            _check_image_file(img, img_dir)
        anns = []
        for local_id, src in enumerate(src_anns):
            segm = src['segmentation']
            if _is_empty(segm):
                report.skip('annotations', 'empty_segmentation')
                continue
            _check_size(segm, img, src['id'], ann_file)
            try:
                rle = to_rle(segm, img['height'], img['width'])
            except (ValueError, TypeError) as err:
                raise ConversionError(
                    f'{ann_file}: annotation id {src["id"]} (image id '
                    f'{img_id}): bad segmentation: {err}') from err
            if rle_area(rle) == 0:
                report.skip('annotations', 'empty_mask')
                continue
            if 'iscrowd' not in src:
                report.stat('iscrowd_missing')
            anns.append(
                make_annotation(
                    local_id,
                    rle,
                    ENTITY,
                    iscrowd=int(src.get('iscrowd', 0)),
                    category_id=src.get('category_id'),
                    source_ann_id=src['id']))
        if not any(a['iscrowd'] == 0 for a in anns):
            report.skip('images', 'no_entity')
            report.skip('annotations', 'image_skipped', len(anns))
            continue
        rles = [a['segmentation'] for a in anns]
        union = merge_rles(rles)
        union_area = rle_area(union)
        report.stat('overlap_pixels',
                    sum(a['area'] for a in anns) - union_area)
        report.stat('crowd_annotations', sum(a['iscrowd'] for a in anns))
        full = union_area == img['height'] * img['width']
        coco_id = coco_id_from_file_name(img['file_name'])
        if coco_id is not None:
            report.stat('coco_images')
        writer.add(
            image_record(
                img_id,
                img_prefix + img['file_name'],
                img['height'],
                img['width'], [ENTITY],
                SOURCE,
                source_image_id=img_id,
                coco_image_id=coco_id,
                valid_region=None if full else union), anns)
        report.keep('images')
        report.keep('annotations', len(anns))
    writer.close(report)
    return report
