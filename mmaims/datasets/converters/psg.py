# Copyright (c) mmaims contributors. All rights reserved.
"""COCO-PSG (OpenPSG ``psg.json``) -> entity + relation levels.

Entities are the ``segments_info`` segments of each record's panoptic PNG
(as for COCO panoptic; ``category_id`` is PSG's 0-based contiguous id over
``thing_classes + stuff_classes``). A relation ``[s_idx, o_idx, p_idx]``
(indices into ``segments_info`` and 0-based into ``predicate_classes``)
becomes a relation annotation whose mask is the union of the two entities,
with ``entity_ids = [subject, object]``, if

1. the predicate is a physical-contact predicate (AIMS paper Sec. 4 keeps
   only those; the list is configurable, default
   :data:`DEFAULT_CONTACT_PREDICATES`);
2. both entities were kept, are not crowd, and differ;
3. optionally, the two masks touch (the subject dilated by ``touch_px``
   pixels meets the object);
4. the unordered pair was not kept already: (s, o) and (o, s) have the same
   union mask, so they are one relation. Its ``predicates`` lists every
   contact predicate annotated for the pair; ``predicate`` is the first.
"""
import os.path as osp
from functools import partial
from typing import Iterable, List, Optional, Sequence

import numpy as np

from mmaims.structures import ENTITY, RELATION, decode_rle, merge_rles
from .coco_panoptic import convert_panoptic_record
from .common import (ConversionError, ConversionReport, HierarchicalCocoWriter,
                     WorkerResult, load_json, make_annotation,
                     map_with_progress, require_keys)

SOURCE = 'psg'

#: Predicates kept by default: those that imply physical contact between
#: subject and object. Neither OpenPSG nor the stored AIMS text defines the
#: subset; this is mmaims' own choice (docs/converters.md), 29 of the 56.
#: Context-dependent ones (``in``, ``eating``, ``playing with``, ...) and
#: non-contact ones (``over``, ``beside``, ``looking at``, ...) are left out.
DEFAULT_CONTACT_PREDICATES = ('on', 'attached to', 'hanging from',
                              'on back of', 'painted on', 'walking on',
                              'running on', 'standing on', 'lying on',
                              'sitting on', 'leaning on', 'wearing', 'holding',
                              'carrying', 'kissing', 'biting', 'picking',
                              'climbing', 'cleaning', 'touching', 'pushing',
                              'pulling', 'opening', 'slicing', 'driving',
                              'riding', 'parked on', 'driving on', 'kicking')


def masks_touch(mask_a: np.ndarray, mask_b: np.ndarray, touch_px: int) -> bool:
    """Whether ``mask_a`` dilated by ``touch_px`` pixels meets ``mask_b``.

    The dilation uses a square ``(2 * touch_px + 1)`` kernel: at
    ``touch_px = 1`` masks touch when some pixels are 8-neighbours; at ``N``
    a gap of up to ``N - 1`` pixels still counts as touching.
    """
    import cv2
    kernel = np.ones((2 * touch_px + 1, 2 * touch_px + 1), np.uint8)
    grown = cv2.dilate(mask_a.astype(np.uint8), kernel) > 0
    return bool((grown & mask_b).any())


def convert_psg_record(record: dict,
                       seg_root: str,
                       predicate_classes: Sequence[str],
                       contact: Iterable[int],
                       test_image_ids: Iterable[str] = (),
                       img_prefix: str = '',
                       touch_px: int = 0) -> WorkerResult:
    """Convert one ``psg.json`` ``data[]`` record.

    Args:
        record (dict): The record.
        seg_root (str): Folder that ``pan_seg_file_name`` is relative to
            (OpenPSG's ``data/coco``).
        predicate_classes (list[str]): ``predicate_classes`` of the file.
        contact (iterable[int]): 0-based indices of the kept predicates.
        test_image_ids (iterable[str]): The file's ``test_image_ids``; sets
            ``images[].source_split`` to ``'test'`` or ``'train'``.
        img_prefix (str): Prepended to ``file_name``.
        touch_px (int): If > 0, also require the masks to touch within this
            many pixels.

    Returns:
        tuple: ``(image or None, annotations with local ids, report)`` with
        units ``images``, ``segments``, ``relations``.
    """
    where = f'PSG image_id {record.get("image_id")!r}'
    require_keys(record, [
        'file_name', 'height', 'width', 'image_id', 'coco_image_id',
        'pan_seg_file_name', 'segments_info'
    ], where)
    try:
        coco_id = int(record['coco_image_id'])
    except (TypeError, ValueError):
        raise ConversionError(
            f'{where}: coco_image_id {record["coco_image_id"]!r} is not a '
            'number')
    try:
        image_id = int(record['image_id'])
    except (TypeError, ValueError):
        raise ConversionError(
            f'{where}: image_id is not a number string; PSG ids are')
    relations = record.get('relations')
    if relations is None:
        # counted (stat and note): a PSG record always has the key, so its
        # absence points at another format or an edit
        relations = []
    if not isinstance(test_image_ids, (set, frozenset)):
        test_image_ids = set(test_image_ids)
    split = 'test' if str(record['image_id']) in test_image_ids else 'train'
    img, anns, report = convert_panoptic_record(
        dict(
            file_name=record['pan_seg_file_name'],
            segments_info=record['segments_info']),
        dict(
            id=image_id,
            file_name=record['file_name'],
            height=record['height'],
            width=record['width']),
        seg_root,
        SOURCE,
        img_prefix=img_prefix,
        extra_image_keys=dict(
            source_image_id=str(record['image_id']),
            coco_image_id=coco_id,
            source_split=split),
        where=where)
    report.read('relations', len(relations))
    if 'relations' not in record:
        report.stat('records_without_relations')
    if img is None:
        report.skip('relations', 'image_skipped', len(relations))
        return None, [], report

    by_index = {a['id']: a for a in anns}
    num_segments = len(record['segments_info'])
    contact = set(contact)
    kept = {}
    masks = {}
    for k, rel in enumerate(relations):
        if (not isinstance(rel, (list, tuple)) or len(rel) != 3
                or not all(isinstance(v, int) for v in rel)):
            raise ConversionError(
                f'{where}: relation #{k} {rel!r} is not [subject_idx, '
                'object_idx, predicate_idx]')
        s, o, p = rel
        if not (0 <= s < num_segments and 0 <= o < num_segments):
            raise ConversionError(
                f'{where}: relation #{k} {rel} indexes segments_info out of '
                f'range (it has {num_segments} segments)')
        if not 0 <= p < len(predicate_classes):
            raise ConversionError(
                f'{where}: relation #{k} {rel} has predicate index {p}; '
                f'there are {len(predicate_classes)} predicates (0-based)')
        name = predicate_classes[p]
        report.stat(f'predicate_read/{name}')
        if s == o:
            report.skip('relations', 'self_relation')
            continue
        if p not in contact:
            report.skip('relations', 'non_contact_predicate')
            continue
        if s not in by_index or o not in by_index:
            report.skip('relations', 'entity_skipped')
            continue
        if by_index[s]['iscrowd'] or by_index[o]['iscrowd']:
            report.skip('relations', 'crowd_entity')
            continue
        if touch_px > 0:
            for idx in (s, o):
                if idx not in masks:
                    masks[idx] = decode_rle(by_index[idx]['segmentation'])
            if not masks_touch(masks[s], masks[o], touch_px):
                report.skip('relations', 'masks_do_not_touch')
                continue
        pair = (min(s, o), max(s, o))
        if pair in kept:
            if name not in kept[pair]['predicates']:
                kept[pair]['predicates'].append(name)
            report.skip('relations', 'duplicate_pair')
            continue
        report.stat(f'predicate_kept/{name}')
        kept[pair] = dict(s=s, o=o, p=p, predicates=[name])

    offset = num_segments
    for n, rel in enumerate(kept.values()):
        union = merge_rles([
            by_index[rel['s']]['segmentation'],
            by_index[rel['o']]['segmentation']
        ])
        anns.append(
            make_annotation(
                offset + n,
                union,
                RELATION,
                entity_ids=[rel['s'], rel['o']],
                predicate=predicate_classes[rel['p']],
                predicate_id=rel['p'],
                predicates=rel['predicates']))
    report.keep('relations', len(kept))
    if kept:
        img['levels'] = [ENTITY, RELATION]
    else:
        # With no relation kept the relation level cannot be claimed
        # exhaustive: the filter may have removed real contact pairs.
        report.stat('images_without_kept_relation')
    return img, anns, report


def _convert_one(record: dict, **kwargs) -> WorkerResult:
    return convert_psg_record(record, **kwargs)


def resolve_predicates(names: Optional[Sequence[str]],
                       predicate_classes: Sequence[str]) -> List[int]:
    """0-based indices of ``names`` in ``predicate_classes``.

    Raises:
        ConversionError: If a name is not a predicate of the file.
    """
    names = DEFAULT_CONTACT_PREDICATES if names is None else names
    unknown = [n for n in names if n not in predicate_classes]
    if unknown:
        raise ConversionError(f'unknown predicate(s) {unknown}; the file has '
                              f'{list(predicate_classes)}')
    return sorted(predicate_classes.index(n) for n in names)


def convert_psg(psg_file: str,
                seg_root: str,
                out_file: str,
                img_prefix: str = '',
                predicates: Optional[Sequence[str]] = None,
                touch_px: int = 0,
                split: str = 'all',
                nproc: int = 1) -> ConversionReport:
    """Convert ``psg.json`` to the hierarchical format.

    Args:
        psg_file (str): ``psg.json`` (or a competition split file).
        seg_root (str): Folder ``pan_seg_file_name`` is relative to (the COCO
            root OpenPSG uses, holding ``panoptic_train2017/``...).
        out_file (str): Output JSON; the report goes to
            ``OUT.report.json``.
        img_prefix (str): Prepended to ``file_name`` (which is relative to
            the COCO root, e.g. ``train2017/000000417720.jpg``).
        predicates (list[str], optional): Kept predicate names; default
            :data:`DEFAULT_CONTACT_PREDICATES`.
        touch_px (int): If > 0, relations whose masks do not touch within
            this many pixels are skipped (``masks_do_not_touch``).
        split (str): ``'all'``, ``'train'`` or ``'test'`` (by
            ``test_image_ids``); other records are skipped as
            ``not_in_split``.
        nproc (int): Worker processes decoding PNGs.

    Returns:
        ConversionReport: Units ``images``, ``segments``, ``relations``;
        stats ``predicate_read/<name>``, ``predicate_kept/<name>``,
        ``images_without_kept_relation``, ``void_pixels``...
    """
    if split not in ('all', 'train', 'test'):
        raise ValueError(f'split must be all, train or test, got {split!r}')
    if touch_px < 0:
        raise ValueError(f'touch_px must be >= 0, got {touch_px}')
    data = load_json(psg_file, 'PSG annotation file')
    require_keys(data, ['data', 'predicate_classes'], psg_file)
    predicate_classes = list(data['predicate_classes'])
    contact = resolve_predicates(predicates, predicate_classes)
    test_ids = {str(i) for i in data.get('test_image_ids', [])}
    report = ConversionReport(SOURCE)
    report.note('kept predicates: ' + ', '.join(predicate_classes[i]
                                                for i in contact))
    records = []
    seen = set()
    for record in data['data']:
        image_id = record.get('image_id')
        if image_id in seen:
            raise ConversionError(
                f'{psg_file}: PSG image_id {image_id!r} occurs twice')
        seen.add(image_id)
        in_test = str(image_id) in test_ids
        if split != 'all' and in_test != (split == 'test'):
            report.read('images')
            report.skip('images', 'not_in_split')
            n_seg = len(record.get('segments_info', []))
            n_rel = len(record.get('relations', []))
            report.read('segments', n_seg)
            report.skip('segments', 'image_skipped', n_seg)
            report.read('relations', n_rel)
            report.skip('relations', 'image_skipped', n_rel)
            continue
        records.append(record)

    thing = list(data.get('thing_classes', []))
    stuff = list(data.get('stuff_classes', []))
    categories = [
        dict(id=i, name=name, isthing=int(i < len(thing)))
        for i, name in enumerate(thing + stuff)
    ]
    writer = HierarchicalCocoWriter(
        out_file,
        info=dict(
            description='COCO-PSG converted by mmaims',
            source_file=osp.basename(psg_file)),
        categories=categories,
        extra=dict(predicate_classes=predicate_classes))
    worker = partial(
        _convert_one,
        seg_root=seg_root,
        predicate_classes=predicate_classes,
        contact=contact,
        test_image_ids=frozenset(test_ids),
        img_prefix=img_prefix,
        touch_px=touch_px)
    for img, anns, part_report in map_with_progress(
            worker, records, nproc, total=len(records), desc='psg'):
        report.merge(part_report)
        if img is not None:
            writer.add(img, anns)
    missing = report.stats.get('records_without_relations', 0)
    if missing:
        report.note(f'{missing} records have no "relations" key (a PSG '
                    'record always has one); they were converted without '
                    'relations')
    writer.close(report)
    return report
