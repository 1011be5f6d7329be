# Copyright (c) mmaims contributors. All rights reserved.
"""PACO (LVIS-style JSON) -> part + entity annotations, no exhaustive level.

Object annotations (``obj_ann_id == id``, categories with LVIS ids and no
``:`` in their name) become entities; part annotations (category named
``object:part``, ids from 2000) become parts whose ``entity_id`` is their
object (``obj_ann_id``). PACO annotates only 75 object classes and only the
parts of each object's own taxonomy, so no level is exhaustive:
``images[].levels`` is ``[]`` and the annotations feed prompt-based samples
(one entity -> its parts) only. Segmentations may be polygons, uncompressed
or compressed RLE; empty ones (EGO4D boxes without masks) are skipped and
counted, and so are the parts of a skipped object.
"""
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional

from mmaims.structures import ENTITY, PART, rle_area, to_rle
from .common import (ConversionError, ConversionReport, HierarchicalCocoWriter,
                     coco_id_from_file_name, image_record, index_images,
                     load_json, make_annotation, require_keys)

SOURCE = 'paco'


def paco_coco_image_id(img: dict) -> Optional[int]:
    """COCO id of a PACO-LVIS image (from ``file_name`` or ``coco_url``).

    PACO-EGO4D frames (``<video_uid>_<frame>.jpeg``) have none.
    """
    for key in ('file_name', 'coco_url'):
        if img.get(key):
            coco_id = coco_id_from_file_name(img[key])
            if coco_id is not None:
                return coco_id
    return None


def _bytes_rle(rle: dict) -> dict:
    return dict(size=rle['size'], counts=rle['counts'].encode('ascii'))


def _overlap_stats(parts: List[dict], obj: dict,
                   report: ConversionReport) -> None:
    """Count part pixels outside their object and overlapping part pairs.

    Parts of one object should neither overlap nor leave it; PACO does not
    promise either, so violations are counted, not fixed.
    """
    import pycocotools.mask as mask_util
    obj_rle = _bytes_rle(obj['segmentation'])
    rles = [_bytes_rle(p['segmentation']) for p in parts]
    for part, rle in zip(parts, rles):
        inside = int(mask_util.area(mask_util.merge([rle, obj_rle], True)))
        report.stat('part_pixels_outside_object', part['area'] - inside)
    for i in range(len(rles)):
        for j in range(i + 1, len(rles)):
            if mask_util.area(mask_util.merge([rles[i], rles[j]], True)):
                report.stat('overlapping_part_pairs')


def convert_paco(ann_file: str,
                 out_file: str,
                 img_prefix: str = '') -> ConversionReport:
    """Convert a PACO annotation file to the hierarchical format.

    Args:
        ann_file (str): ``paco_{lvis,ego4d}_v1_{train,val,test}.json``.
        out_file (str): Output JSON; the report goes to
            ``OUT.report.json``.
        img_prefix (str): Prepended to every ``file_name`` (PACO-LVIS
            names already carry ``train2017/`` or ``val2017/``).

    Returns:
        ConversionReport: Units ``images``, ``objects``, ``parts``; stats
        ``part_pixels_outside_object``, ``overlapping_part_pairs``,
        ``coco_images``.

    Raises:
        ConversionError: Unknown image or category id; a part whose
            ``obj_ann_id`` names no annotation, names a part, or names an
            object of another image; an object whose ``obj_ann_id`` is not
            its own ``id``; an undecodable segmentation; repeated ids.
    """
    data = load_json(ann_file, 'PACO annotation file')
    require_keys(data, ['images', 'annotations', 'categories'], ann_file)
    categories = {}
    for cat in data['categories']:
        require_keys(cat, ['id', 'name'], f'{ann_file}: category')
        categories[cat['id']] = cat
    # LVIS v1 images carry only coco_url; its path below the host is the
    # COCO-root-relative file name (``train2017/...jpg``).
    images = index_images([
        img if 'file_name' in img or 'coco_url' not in img else dict(
            img, file_name=img['coco_url'].split('.org/', 1)[-1])
        for img in data['images']
    ], ann_file)

    anns_by_id: Dict[int, dict] = {}
    for ann in data['annotations']:
        where = f'{ann_file}: annotation id {ann.get("id")}'
        require_keys(
            ann,
            ['id', 'image_id', 'category_id', 'segmentation', 'obj_ann_id'],
            where)
        if ann['id'] in anns_by_id:
            raise ConversionError(f'{where} occurs twice')
        if ann['image_id'] not in images:
            raise ConversionError(
                f'{where}: image id {ann["image_id"]} is not in images[]')
        if ann['category_id'] not in categories:
            raise ConversionError(
                f'{where}: category id {ann["category_id"]} is not in '
                'categories[]')
        anns_by_id[ann['id']] = ann

    def is_part(ann: dict) -> bool:
        return ':' in categories[ann['category_id']]['name']

    objects_by_image = defaultdict(list)
    parts_by_object = defaultdict(list)
    for ann in anns_by_id.values():
        where = f'{ann_file}: annotation id {ann["id"]}'
        if not is_part(ann):
            if ann['obj_ann_id'] != ann['id']:
                raise ConversionError(
                    f'{where}: object (category '
                    f'"{categories[ann["category_id"]]["name"]}") has '
                    f'obj_ann_id {ann["obj_ann_id"]} != its id')
            objects_by_image[ann['image_id']].append(ann)
            continue
        parent = anns_by_id.get(ann['obj_ann_id'])
        if parent is None:
            raise ConversionError(
                f'{where}: part\'s obj_ann_id {ann["obj_ann_id"]} names no '
                'annotation')
        if is_part(parent):
            raise ConversionError(
                f'{where}: part\'s obj_ann_id {ann["obj_ann_id"]} names '
                'another part')
        if parent['image_id'] != ann['image_id']:
            raise ConversionError(
                f'{where}: part of image {ann["image_id"]} names object '
                f'{parent["id"]} of image {parent["image_id"]}')
        parts_by_object[parent['id']].append(ann)

    from tqdm import tqdm
    report = ConversionReport(SOURCE)
    writer = HierarchicalCocoWriter(
        out_file,
        info=dict(
            description='PACO converted by mmaims',
            source_file=osp.basename(ann_file)),
        categories=[{
            k: c[k]
            for k in ('id', 'name', 'supercategory') if k in c
        } for c in data['categories']])

    def segm_rle(ann: dict, img: dict, unit: str) -> Optional[dict]:
        segm = ann['segmentation']
        if segm is None or len(segm) == 0:
            report.skip(unit, 'empty_segmentation')
            return None
        if isinstance(segm, list) and all(
                isinstance(p, list) and len(p) < 6 for p in segm):
            report.skip(unit, 'degenerate_polygon')
            return None
        try:
            rle = to_rle(segm, img['height'], img['width'])
        except (ValueError, TypeError, KeyError) as err:
            raise ConversionError(
                f'{ann_file}: annotation id {ann["id"]} (image id '
                f'{img["id"]}): bad segmentation: {err}') from err
        if rle['size'] != [img['height'], img['width']]:
            raise ConversionError(
                f'{ann_file}: annotation id {ann["id"]}: RLE size '
                f'{rle["size"]} != image id {img["id"]} size '
                f'{[img["height"], img["width"]]}')
        if rle_area(rle) == 0:
            report.skip(unit, 'empty_mask')
            return None
        return rle

    for img_id, img in tqdm(images.items(), desc='paco', unit='img'):
        report.read('images')
        anns = []
        for obj in sorted(
                objects_by_image.get(img_id, []), key=lambda a: a['id']):
            parts = sorted(
                parts_by_object.get(obj['id'], []), key=lambda a: a['id'])
            report.read('objects')
            report.read('parts', len(parts))
            rle = segm_rle(obj, img, 'objects')
            if rle is None:
                report.skip('parts', 'object_skipped', len(parts))
                continue
            obj_ann = make_annotation(
                obj['id'],
                rle,
                ENTITY,
                category_id=obj['category_id'],
                source_ann_id=obj['id'])
            anns.append(obj_ann)
            part_anns = []
            for part in parts:
                part_rle = segm_rle(part, img, 'parts')
                if part_rle is None:
                    continue
                part_anns.append(
                    make_annotation(
                        part['id'],
                        part_rle,
                        PART,
                        entity_id=obj['id'],
                        category_id=part['category_id'],
                        source_ann_id=part['id']))
            _overlap_stats(part_anns, obj_ann, report)
            anns.extend(part_anns)
        num_objects = sum(a['level'] == ENTITY for a in anns)
        if not anns:
            report.skip('images', 'no_annotation')
            continue
        coco_id = paco_coco_image_id(img)
        if coco_id is not None:
            report.stat('coco_images')
        writer.add(
            image_record(
                img_id,
                img_prefix + img['file_name'],
                img['height'],
                img['width'], [],
                SOURCE,
                source_image_id=img_id,
                coco_image_id=coco_id), anns)
        report.keep('images')
        report.keep('objects', num_objects)
        report.keep('parts', len(anns) - num_objects)
    writer.close(report)
    return report
