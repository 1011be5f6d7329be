# Copyright (c) mmaims contributors. All rights reserved.
"""Pascal Panoptic Parts (PPP, release v2) -> part + entity levels.

One single-channel int32 TIFF per VOC2010 image holds a universal id per
pixel (``panoptic_parts`` ``label_format.md``):

* ``uid = sid`` (1-2 digits): semantic class only;
* ``uid = sid * 10**3 + iid`` (4-5 digits): thing instance;
* ``uid = sid * 10**5 + iid * 10**2 + pid`` (6-7 digits): part of an
  instance.

Values 100-999, above 9,999,999 and negative ones are invalid.

Mapping:

* entity: each thing instance ``(sid, iid)`` and each stuff class present
  (one entity even when disconnected);
* entity crowd (``iscrowd: 1``): thing-class pixels without an instance id
  (``uid = sid`` with a thing ``sid``), one region per class, as COCO does;
* part: each raw ``(sid, iid, pid >= 1)``, linked to its entity; the
  instance-wise part ids of countable parts (car wheels 20-29, ...) stay
  separate parts. With a dataset spec, ``category_id`` folds them to the
  semantic part (``sid * 100 + pid``);
* part crowd (``iscrowd: 1``, linked to its entity): the pixels of each
  entity that no part covers. This is how classes without a part taxonomy
  (all stuff classes and boat, chair, table, sofa) and part-unlabeled pixels
  of part-annotated instances are handled: the part level is exhaustive
  everywhere else, and there they are ignored, neither positive nor
  negative;
* outside ``valid_region``: unlabeled pixels (uid 0), invalid uids and
  instance / part ids on stuff classes.
"""
import os
import os.path as osp
import re
from collections import defaultdict
from functools import partial
from typing import Dict, List, Optional, Tuple

import numpy as np

from mmaims.structures import ENTITY, PART, encode_mask
from .common import (ConversionError, ConversionReport, HierarchicalCocoWriter,
                     WorkerResult, image_record, make_annotation,
                     map_with_progress)

SOURCE = 'ppp'

#: ``scene_classes_with_instances`` of PPP's ``ppp_datasetspec.yaml``: the
#: 20 VOC object classes, sids 1-20 in VOC order.
PPP_THING_SIDS: Tuple[int, ...] = tuple(range(1, 21))

_VOC_STEM = re.compile(r'^(\d{4})_(\d{6})$')


def decode_uids(uids: np.ndarray) -> Tuple[np.ndarray, ...]:
    """Split PPP universal ids into ``(sid, iid, pid, valid)``.

    Mirrors ``panoptic_parts.utils.format.decode_uids`` without its
    exceptions: invalid uids come back with ``valid == False`` and
    ``sid == iid == pid == -1``.

    Args:
        uids (np.ndarray): Integer array of any shape.

    Returns:
        tuple[np.ndarray]: ``sid``, ``iid`` (-1 if none), ``pid`` (-1 if
        none) as ``int64`` and ``valid`` as ``bool``, each of the shape of
        ``uids``.
    """
    uids = np.asarray(uids, dtype=np.int64)
    sem = (uids >= 0) & (uids <= 99)
    inst = (uids >= 1000) & (uids <= 99_999)
    part = (uids >= 100_000) & (uids <= 9_999_999)
    valid = sem | inst | part
    sid = np.where(
        sem, uids,
        np.where(inst, uids // 1000, np.where(part, uids // 100_000, -1)))
    iid = np.where(inst, uids % 1000, np.where(part, (uids // 100) % 1000, -1))
    pid = np.where(part, uids % 100, -1)
    return sid, iid, pid, valid


def load_ppp_spec(spec_file: str) -> dict:
    """Read the parts of ``ppp_datasetspec.yaml`` the converter uses.

    Args:
        spec_file (str): Path to the ``panoptic_parts`` dataset spec.

    Returns:
        dict: ``class_names`` (sid -> name, sid = 1-based position in
        ``scene_class2part_classes``), ``part_names`` (sid -> list of part
        names; pid = 1-based position), ``thing_sids`` (from
        ``scene_classes_with_instances``) and ``fold`` (sid -> {raw pid:
        semantic pid} for the ``countable_pids_groupings``).

    Raises:
        ConversionError: If a required key is missing or a grouping names an
            unknown class or part.
    """
    import yaml
    if not osp.isfile(spec_file):
        raise ConversionError(f'PPP dataset spec "{spec_file}" does not exist')
    with open(spec_file) as f:
        spec = yaml.safe_load(f)
    if not isinstance(spec, dict) or not isinstance(
            spec.get('scene_class2part_classes'), dict):
        raise ConversionError(
            f'{spec_file}: needs a "scene_class2part_classes" mapping')
    classes = [c for c in spec['scene_class2part_classes'] if c != 'UNLABELED']
    sid_of = {name: sid for sid, name in enumerate(classes, start=1)}
    part_names = {
        sid_of[name]: list(spec['scene_class2part_classes'][name] or [])
        for name in classes
    }
    things = spec.get('scene_classes_with_instances')
    if things is None:
        thing_sids = list(PPP_THING_SIDS)
    else:
        unknown = [t for t in things if t not in sid_of]
        if unknown:
            raise ConversionError(
                f'{spec_file}: scene_classes_with_instances names unknown '
                f'classes {unknown}')
        thing_sids = sorted(sid_of[t] for t in things)
    fold: Dict[int, Dict[int, int]] = {}
    for name, groups in (spec.get('countable_pids_groupings') or {}).items():
        if name not in sid_of:
            raise ConversionError(
                f'{spec_file}: countable_pids_groupings names unknown class '
                f'"{name}"')
        sid = sid_of[name]
        for part, raw_pids in groups.items():
            if part not in part_names[sid]:
                raise ConversionError(
                    f'{spec_file}: countable_pids_groupings names unknown '
                    f'part "{part}" of class "{name}"')
            semantic = part_names[sid].index(part) + 1
            for raw in raw_pids:
                fold.setdefault(sid, {})[int(raw)] = semantic
    return dict(
        class_names=dict(enumerate(classes, start=1)),
        part_names=part_names,
        thing_sids=thing_sids,
        fold=fold)


def _semantic_pid(sid: int, pid: int, spec: Optional[dict], where: str) -> int:
    if spec is None:
        return pid
    folded = spec['fold'].get(sid, {}).get(pid)
    if folded is not None:
        return folded
    if 1 <= pid <= len(spec['part_names'].get(sid, [])):
        return pid
    raise ConversionError(
        f'{where}: part id {pid} of class {sid} '
        f'("{spec["class_names"].get(sid, "?")}") is not in the dataset spec')


def ppp_image_id(stem: str, where: str) -> int:
    """``'2008_000123'`` -> ``2008000123`` (VOC file stems are unique)."""
    match = _VOC_STEM.match(stem)
    if match is None:
        raise ConversionError(
            f'{where}: expected a VOC file name like 2008_000123.tif')
    return int(match.group(1) + match.group(2))


def read_ppp_label(path: str) -> np.ndarray:
    """Read a PPP label TIFF as an ``int32`` ``H x W`` array.

    Raises:
        ConversionError: If the file is missing, unreadable or not a
            single-channel 32-bit integer image (PIL mode ``'I'``).
    """
    from PIL import Image
    if not osp.isfile(path):
        raise ConversionError(f'PPP label "{path}" does not exist')
    try:
        with Image.open(path) as img:
            mode = img.mode
            if mode not in ('I', 'I;32', 'I;32B', 'I;32L'):
                raise ConversionError(
                    f'{path}: PPP labels are single-channel int32 TIFFs (PIL '
                    f'mode "I"), got mode "{mode}"')
            arr = np.asarray(img, dtype=np.int32)
    except OSError as err:
        raise ConversionError(f'cannot read PPP label "{path}": {err}')
    if arr.ndim != 2:
        raise ConversionError(f'{path}: expected a 2-D label, got shape '
                              f'{arr.shape}')
    return arr


def convert_ppp_label(path: str,
                      split: Optional[str] = None,
                      img_prefix: str = '',
                      spec: Optional[dict] = None) -> WorkerResult:
    """Convert one PPP label TIFF.

    Args:
        path (str): Label TIFF.
        split (str, optional): ``'training'`` / ``'validation'``, stored as
            ``images[].source_split``.
        img_prefix (str): Prepended to ``<stem>.jpg``.
        spec (dict, optional): Output of :func:`load_ppp_spec`.

    Returns:
        tuple: ``(image or None, annotations with local ids, report)`` with
        units ``images``, ``uids`` (distinct values of the label), ``entities``
        and ``parts``.
    """
    report = ConversionReport(SOURCE)
    report.read('images')
    stem = osp.splitext(osp.basename(path))[0]
    image_id = ppp_image_id(stem, path)
    label = read_ppp_label(path)
    height, width = label.shape
    thing_sids = set(spec['thing_sids'] if spec else PPP_THING_SIDS)

    values, counts = np.unique(label, return_counts=True)
    sids, iids, pids, valid = decode_uids(values)
    report.read('uids', len(values))
    invalid_values: List[int] = []
    num_used_uids = 0
    entity_uids: Dict[tuple, List[int]] = defaultdict(list)
    part_uids: Dict[tuple, int] = {}
    for uid, count, sid, iid, pid, ok in zip(values.tolist(), counts.tolist(),
                                             sids.tolist(), iids.tolist(),
                                             pids.tolist(), valid.tolist()):
        if uid == 0:
            report.skip('uids', 'unlabeled')
            report.stat('unlabeled_pixels', count)
            invalid_values.append(uid)
            continue
        if not ok:
            report.skip('uids', 'invalid_uid')
            report.stat('invalid_uid_pixels', count)
            invalid_values.append(uid)
            continue
        is_thing = sid in thing_sids
        if iid >= 0 and not is_thing:
            report.skip('uids', 'instance_id_on_stuff')
            report.stat('instance_id_on_stuff_pixels', count)
            invalid_values.append(uid)
            continue
        num_used_uids += 1
        if iid < 0:
            # A thing class without instance id "cannot be labeled on
            # instance level": the panoptic analogue of a crowd region.
            kind = 'crowd' if is_thing else 'stuff'
            if is_thing:
                report.stat('thing_pixels_without_instance', count)
            entity_uids[(kind, sid, -1)].append(uid)
            continue
        entity_uids[('thing', sid, iid)].append(uid)
        if pid >= 1:
            part_uids[(sid, iid, pid)] = uid
        elif pid == 0:
            # v1 files mark part-unlabeled instance pixels with pid 0.
            report.stat('pid0_pixels', count)

    where = path
    anns = []
    entity_local: Dict[tuple, int] = {}
    entity_masks = {}
    for key in sorted(entity_uids):
        kind, sid, iid = key
        mask = np.isin(label, entity_uids[key])
        local_id = len(anns)
        entity_local[key] = local_id
        entity_masks[key] = mask
        anns.append(
            make_annotation(
                local_id,
                encode_mask(mask),
                ENTITY,
                iscrowd=int(kind == 'crowd'),
                category_id=sid,
                instance_id=iid if iid >= 0 else None))
    report.read('entities', len(entity_local))
    report.read('parts', len(part_uids))
    covered = {key: np.zeros((height, width), bool) for key in entity_masks}
    for (sid, iid, pid) in sorted(part_uids):
        uid = part_uids[(sid, iid, pid)]
        mask = label == uid
        ekey = ('thing', sid, iid)
        covered[ekey] |= mask
        semantic = _semantic_pid(sid, pid, spec, f'{where}, uid {uid}')
        anns.append(
            make_annotation(
                len(anns),
                encode_mask(mask),
                PART,
                entity_id=entity_local[ekey],
                category_id=sid * 100 + semantic,
                part_id=pid))
    num_crowd_parts = 0
    for key, mask in entity_masks.items():
        rest = mask & ~covered[key]
        if rest.any():
            num_crowd_parts += 1
            report.stat('part_ignore_pixels', int(rest.sum()))
            anns.append(
                make_annotation(
                    len(anns),
                    encode_mask(rest),
                    PART,
                    iscrowd=1,
                    entity_id=entity_local[key],
                    category_id=key[1]))
    # the ignore regions are part annotations of the file too: a unit of
    # their own, so kept parts + kept ignore regions = parts written
    report.read('part_ignore_regions', num_crowd_parts)

    if not any(kind != 'crowd' for kind, _, _ in entity_local):
        report.skip('images', 'no_entity')
        report.skip('uids', 'image_skipped', num_used_uids)
        report.skip('entities', 'image_skipped', len(entity_local))
        report.skip('parts', 'image_skipped', len(part_uids))
        report.skip('part_ignore_regions', 'image_skipped', num_crowd_parts)
        return None, [], report
    report.keep('images')
    report.keep('uids', num_used_uids)
    report.keep('entities', len(entity_local))
    report.keep('parts', len(part_uids))
    report.keep('part_ignore_regions', num_crowd_parts)
    report.stat('crowd_entities',
                sum(kind == 'crowd' for kind, _, _ in entity_local))
    invalid = np.isin(label, invalid_values) if invalid_values else None
    img = image_record(
        image_id,
        f'{img_prefix}{stem}.jpg',
        height,
        width, [PART, ENTITY],
        SOURCE,
        source_image_id=stem,
        source_split=split,
        valid_region=encode_mask(~invalid)
        if invalid is not None and invalid.any() else None)
    return img, anns, report


def _convert_one(item: Tuple[str, Optional[str]], img_prefix: str,
                 spec: Optional[dict]) -> WorkerResult:
    path, split = item
    return convert_ppp_label(path, split, img_prefix, spec)


def find_ppp_labels(label_root: str) -> List[Tuple[str, Optional[str]]]:
    """All ``*.tif`` under ``label_root`` with their split folder name.

    Args:
        label_root (str): A PPP ``labels`` folder (with ``training/`` and
            ``validation/``) or one split folder.

    Returns:
        list[tuple[str, str | None]]: Sorted ``(path, split)``; ``split`` is
        the first folder below ``label_root`` (None for files directly in
        it).
    """
    if not osp.isdir(label_root):
        raise ConversionError(
            f'PPP label folder "{label_root}" does not exist')
    found = []
    for dirpath, _, files in os.walk(label_root):
        for name in files:
            if name.lower().endswith(('.tif', '.tiff')):
                path = osp.join(dirpath, name)
                rel = osp.relpath(path, label_root).split(os.sep)
                found.append((path, rel[0] if len(rel) > 1 else None))
    if not found:
        raise ConversionError(f'no .tif labels found under "{label_root}"')
    return sorted(found)


def convert_ppp(label_root: str,
                out_file: str,
                img_prefix: str = 'JPEGImages/',
                spec_file: Optional[str] = None,
                nproc: int = 1) -> ConversionReport:
    """Convert a PPP label folder to the hierarchical format.

    Args:
        label_root (str): PPP ``labels/`` (or ``labels/training``...).
        out_file (str): Output JSON; the report goes to
            ``OUT.report.json``.
        img_prefix (str): Prepended to ``<voc_id>.jpg``; the images are
            VOC2010 ``JPEGImages``.
        spec_file (str, optional): ``ppp_datasetspec.yaml``; gives class
            and part names, the thing list and the countable-part folding
            used for part ``category_id``. Without it, part ``category_id``
            is ``sid * 100 + raw pid`` and things are sids 1-20.
        nproc (int): Worker processes.

    Returns:
        ConversionReport: Units ``images``, ``uids``, ``entities``,
        ``parts``; pixel stats per ignore reason.
    """
    spec = load_ppp_spec(spec_file) if spec_file else None
    items = find_ppp_labels(label_root)
    categories: List[dict] = []
    if spec is not None:
        for sid, name in spec['class_names'].items():
            categories.append(dict(id=sid, name=name))
            for pid, part in enumerate(spec['part_names'][sid], start=1):
                categories.append(
                    dict(
                        id=sid * 100 + pid,
                        name=f'{name}:{part}',
                        supercategory='PART'))
    report = ConversionReport(SOURCE)
    if spec is None:
        report.note('no dataset spec given: part category_id is sid * 100 + '
                    'raw pid (countable parts not folded)')
    writer = HierarchicalCocoWriter(
        out_file,
        info=dict(
            description='Pascal Panoptic Parts converted by mmaims',
            source_file=osp.basename(osp.normpath(label_root))),
        categories=categories)
    worker = partial(_convert_one, img_prefix=img_prefix, spec=spec)
    for img, anns, part_report in map_with_progress(
            worker, items, nproc, total=len(items), desc='ppp'):
        report.merge(part_report)
        if img is not None:
            writer.add(img, anns)
    writer.close(report)
    return report
