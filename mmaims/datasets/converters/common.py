# Copyright (c) mmaims contributors. All rights reserved.
"""Shared pieces of the source-dataset converters.

Every converter turns one source annotation file into a "hierarchical COCO"
file (docs/formats.md section 1). They share:

* :class:`ConversionReport`: what was read, kept and skipped (by reason), per
  unit (images, segments, parts, relations, ...), with the invariant
  ``kept + skipped == read`` checked before it is written;
* :func:`make_annotation`: an annotation dict whose ``area`` is the mask
  pixel count and ``bbox`` the tight mask box;
* :class:`HierarchicalCocoWriter`: streams images and annotations to disk so
  that a 118k-image source never has to sit in memory as one list, assigns
  file-wide annotation ids and checks that every part / relation link points
  at an entity of the same image;
* :func:`map_with_progress`: an ordered, optionally multi-process map with a
  progress bar.
"""
import json
import multiprocessing
import os
import os.path as osp
import re
import tempfile
from collections import Counter
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Optional,
                    Sequence, Tuple)

import numpy as np
from tqdm import tqdm

from mmaims.structures import (ENTITY, LEVELS, PART, RELATION, rle_area,
                               rle_bbox)
from mmaims.utils.file_io import atomic_open, dump_json


class ConversionError(ValueError):
    """Bad source data. The message names the file, image or annotation."""


class ConversionReport:
    """Counts of what a converter read, kept and skipped, by reason.

    Counts are kept per *unit* (``'images'``, ``'segments'``, ``'parts'``,
    ``'relations'``, ...). Every item of a unit that is read must end up
    either kept or skipped with a reason, so ``kept + sum(skipped) == read``
    holds per unit; :meth:`check` enforces it. ``stats`` holds extra
    counters that are not items (pixel counts, per-predicate counts, ...).

    Args:
        source (str): Name of the source dataset (``'coco'``, ``'ppp'``...).
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.counts: Dict[str, Dict[str, Any]] = {}
        self.stats: Counter = Counter()
        self.notes: List[str] = []

    def _unit(self, unit: str) -> Dict[str, Any]:
        if unit not in self.counts:
            self.counts[unit] = dict(read=0, kept=0, skipped=Counter())
        return self.counts[unit]

    def read(self, unit: str, n: int = 1) -> None:
        """Count ``n`` items of ``unit`` as read."""
        self._unit(unit)['read'] += n

    def keep(self, unit: str, n: int = 1) -> None:
        """Count ``n`` items of ``unit`` as written to the output."""
        self._unit(unit)['kept'] += n

    def skip(self, unit: str, reason: str, n: int = 1) -> None:
        """Count ``n`` items of ``unit`` as dropped, with the reason."""
        counter = self._unit(unit)['skipped']
        if n:
            counter[reason] += n

    def stat(self, key: str, n: int = 1) -> None:
        """Add ``n`` to the free-form counter ``key``."""
        self.stats[key] += n

    def note(self, text: str) -> None:
        """Attach a sentence to the report (printed and written)."""
        self.notes.append(text)

    def merge(self, other: 'ConversionReport') -> None:
        """Add the counts of ``other`` (e.g. from a worker) to this one."""
        for unit, c in other.counts.items():
            mine = self._unit(unit)
            mine['read'] += c['read']
            mine['kept'] += c['kept']
            mine['skipped'].update(c['skipped'])
        self.stats.update(other.stats)
        self.notes.extend(other.notes)

    def num_skipped(self, unit: str) -> int:
        """Total number of skipped items of ``unit``."""
        return sum(self._unit(unit)['skipped'].values())

    def check(self) -> None:
        """Raise if some unit has ``kept + skipped != read``.

        Raises:
            RuntimeError: The converter lost track of some items; this is a
                bug in the converter, not in the data.
        """
        for unit, c in self.counts.items():
            total = c['kept'] + sum(c['skipped'].values())
            if total != c['read']:
                raise RuntimeError(
                    f'{self.source} report, unit "{unit}": kept '
                    f'({c["kept"]}) + skipped ({total - c["kept"]}) != read '
                    f'({c["read"]})')

    def to_dict(self) -> dict:
        """JSON-serialisable form (the content of ``OUT.report.json``)."""
        return dict(
            source=self.source,
            counts={
                unit:
                dict(
                    read=c['read'],
                    kept=c['kept'],
                    skipped=dict(sorted(c['skipped'].items())))
                for unit, c in self.counts.items()
            },
            stats=dict(sorted(self.stats.items())),
            notes=list(self.notes))

    def format(self) -> str:
        """Human-readable table of the counts."""
        lines = [f'Conversion report ({self.source})']
        for unit, c in self.counts.items():
            lines.append(f'  {unit}: read {c["read"]}, kept {c["kept"]}, '
                         f'skipped {sum(c["skipped"].values())}')
            for reason, n in sorted(c['skipped'].items()):
                lines.append(f'      skipped ({reason}): {n}')
        if self.stats:
            lines.append('  stats:')
            for key, n in sorted(self.stats.items()):
                lines.append(f'      {key}: {n}')
        for text in self.notes:
            lines.append(f'  note: {text}')
        return '\n'.join(lines)


def report_path(out_file: str) -> str:
    """``OUT.json`` -> ``OUT.report.json`` (next to the output file)."""
    root, ext = osp.splitext(out_file)
    return (root if ext == '.json' else out_file) + '.report.json'


def rgb2id(color: np.ndarray) -> np.ndarray:
    """Panoptic segment ids of an ``H x W x 3`` RGB array.

    ``id = R + 256 * G + 256 ** 2 * B`` as in panopticapi's ``rgb2id`` (its
    docstring has a typo; this follows its code).

    Args:
        color (np.ndarray): ``uint8`` array of shape ``(H, W, 3)``.

    Returns:
        np.ndarray: ``uint32`` array of shape ``(H, W)``.
    """
    color = color.astype(np.uint32)
    return color[..., 0] + 256 * color[..., 1] + 256 * 256 * color[..., 2]


def read_panoptic_png(path: str, height: int, width: int,
                      where: str) -> np.ndarray:
    """Read a panoptic PNG and return its segment ids.

    Args:
        path (str): PNG path.
        height (int): Expected height (from the image record).
        width (int): Expected width.
        where (str): Context for errors, e.g. ``'image id 42'``.

    Returns:
        np.ndarray: ``uint32`` ids of shape ``(height, width)``.

    Raises:
        ConversionError: If the PNG is missing, unreadable or of another
            size than the image record says.
    """
    from PIL import Image
    if not osp.isfile(path):
        raise ConversionError(
            f'{where}: panoptic PNG "{path}" listed in the annotation file '
            'does not exist')
    try:
        with Image.open(path) as img:
            color = np.asarray(img.convert('RGB'))
    except OSError as err:
        raise ConversionError(
            f'{where}: cannot read panoptic PNG "{path}": {err}') from err
    if color.shape[:2] != (height, width):
        raise ConversionError(
            f'{where}: panoptic PNG "{path}" is {color.shape[1]}x'
            f'{color.shape[0]} (WxH) but the image record says {width}x'
            f'{height}')
    return rgb2id(color)


def make_annotation(ann_id: int,
                    rle: dict,
                    level: str,
                    iscrowd: int = 0,
                    **extra: Any) -> dict:
    """Build one docs/formats.md annotation from a compressed RLE.

    Args:
        ann_id (int): Annotation id, local to its image while a converter
            builds it (the writer makes it file-wide).
        rle (dict): Compressed RLE with ``str`` counts.
        level (str): ``'part'``, ``'entity'`` or ``'relation'``.
        iscrowd (int): 1 for an ignore region of this level.
        **extra: More keys (``entity_id``, ``entity_ids``, ``category_id``,
            ``predicate``, source ids...). ``None`` values are dropped,
            except ``entity_id``, which docs/formats.md allows to be null.

    Returns:
        dict: Annotation without ``image_id`` (the writer sets it).
    """
    if level not in LEVELS:
        raise ValueError(f'unknown level "{level}"')
    ann = dict(
        id=ann_id,
        level=level,
        segmentation=rle,
        area=rle_area(rle),
        bbox=rle_bbox(rle),
        iscrowd=int(iscrowd))
    for key, value in extra.items():
        if value is not None or key == 'entity_id':
            ann[key] = value
    return ann


def image_record(image_id: int, file_name: str, height: int, width: int,
                 levels: Sequence[str], source: str, **extra: Any) -> dict:
    """Build one ``images[]`` entry of docs/formats.md (``None`` extras
    dropped)."""
    for level in levels:
        if level not in LEVELS:
            raise ValueError(f'unknown level "{level}"')
    img = dict(
        id=image_id,
        file_name=file_name,
        height=int(height),
        width=int(width),
        levels=list(levels),
        source=source)
    img.update({k: v for k, v in extra.items() if v is not None})
    return img


_COCO_FILE = re.compile(r'^(\d{12})\.(?:jpg|jpeg|png)$', re.IGNORECASE)
_COCO_PREFIXED = re.compile(r'^coco.*?(\d+)\.(?:jpg|jpeg|png)$', re.IGNORECASE)


def coco_id_from_file_name(file_name: str) -> Optional[int]:
    """COCO image id of a COCO file name, else ``None``.

    Accepts COCO 2017 names (``000000417720.jpg``, also with a folder such
    as ``train2017/`` or a ``coco_url``) and names starting with ``coco``
    whose last digit group is the id (EntitySeg's ``coco_...`` images,
    ``COCO_train2014_000000417720.jpg``). Any other name (VOC, EGO4D, ...)
    gives ``None``.
    """
    base = osp.basename(file_name)
    match = _COCO_FILE.match(base) or _COCO_PREFIXED.match(base)
    return int(match.group(1)) if match else None


class HierarchicalCocoWriter:
    """Stream a hierarchical COCO file to disk.

    Images and their annotations are added one image at a time, with
    annotation ids local to the image (any ints unique in the image). The
    writer renumbers them file-wide (1, 2, ...), rewrites ``entity_id`` and
    ``entity_ids`` accordingly and checks that each link points at an entity
    of the same image. Images and annotations are spooled to temporary files
    and assembled into one JSON object by :meth:`close`.

    Args:
        out_file (str): Output JSON path.
        info (dict, optional): Top-level ``info``.
        categories (list[dict], optional): Top-level ``categories``.
        extra (dict, optional): More top-level keys (e.g. predicate names).
    """

    def __init__(self,
                 out_file: str,
                 info: Optional[dict] = None,
                 categories: Optional[List[dict]] = None,
                 extra: Optional[dict] = None) -> None:
        self.out_file = out_file
        self.info = info or {}
        self.categories = categories or []
        self.extra = extra or {}
        out_dir = osp.dirname(osp.abspath(out_file))
        os.makedirs(out_dir, exist_ok=True)
        # Spool next to the output so that the final concatenation does not
        # cross file systems and a crash leaves nothing in /tmp.
        self._img_fp = tempfile.TemporaryFile('w+', dir=out_dir)
        self._ann_fp = tempfile.TemporaryFile('w+', dir=out_dir)
        self._next_ann_id = 1
        self._image_ids = set()
        self.num_images = 0
        self.num_annotations = 0
        self.level_counts: Counter = Counter()

    def add(self, image: dict, annotations: List[dict]) -> None:
        """Append one image and its annotations.

        Args:
            image (dict): ``images[]`` entry; its ``id`` must be unique.
            annotations (list[dict]): Annotations with image-local ids.

        Raises:
            ConversionError: Duplicate image id, duplicate local annotation
                id, or a link to no entity of this image.
        """
        img_id = image['id']
        if img_id in self._image_ids:
            raise ConversionError(
                f'image id {img_id} ({image.get("file_name")}) occurs twice')
        self._image_ids.add(img_id)
        id_map = {}
        for ann in annotations:
            if ann['id'] in id_map:
                raise ConversionError(
                    f'image id {img_id}: annotation id {ann["id"]} occurs '
                    'twice')
            id_map[ann['id']] = self._next_ann_id
            self._next_ann_id += 1
        levels = {ann['id']: ann['level'] for ann in annotations}

        def _entity(local_id: Any, ann: dict) -> int:
            if levels.get(local_id) != ENTITY:
                raise ConversionError(
                    f'image id {img_id}, annotation id {ann["id"]} '
                    f'({ann["level"]}): link to {local_id}, which is not an '
                    'entity annotation of this image')
            return id_map[local_id]

        self._img_fp.write(json.dumps(image, separators=(',', ':')) + '\n')
        for ann in annotations:
            out = dict(ann)
            out['id'] = id_map[ann['id']]
            out['image_id'] = img_id
            if ann['level'] == PART and ann.get('entity_id') is not None:
                out['entity_id'] = _entity(ann['entity_id'], ann)
            if ann['level'] == RELATION:
                pair = ann.get('entity_ids')
                if pair is None or len(pair) != 2:
                    raise ConversionError(
                        f'image id {img_id}, annotation id {ann["id"]}: a '
                        'relation needs entity_ids [subject, object]')
                out['entity_ids'] = [_entity(e, ann) for e in pair]
            self._ann_fp.write(json.dumps(out, separators=(',', ':')) + '\n')
            self.level_counts[ann['level']] += 1
        self.num_images += 1
        self.num_annotations += len(annotations)

    def close(self, report: Optional[ConversionReport] = None) -> None:
        """Write the JSON file and, with a report, ``OUT.report.json``.

        The report is checked (``kept + skipped == read``), printed and
        written next to the output.
        """
        if report is not None:
            report.check()
        with atomic_open(self.out_file) as out:
            out.write('{"info":' + json.dumps(self.info))
            for key, value in self.extra.items():
                out.write(',' + json.dumps(key) + ':' + json.dumps(value))
            out.write(',"categories":' + json.dumps(self.categories))
            for key, fp in (('images', self._img_fp), ('annotations',
                                                       self._ann_fp)):
                out.write(',"' + key + '":[')
                fp.seek(0)
                first = True
                for line in fp:
                    if not first:
                        out.write(',')
                    out.write(line.rstrip('\n'))
                    first = False
                out.write(']')
                fp.close()
            out.write('}\n')
        if report is not None:
            dump_json(report.to_dict(), report_path(self.out_file), indent=2)
            print(report.format())
            print(f'wrote {self.num_images} images and '
                  f'{self.num_annotations} annotations '
                  f'({dict(self.level_counts)}) to {self.out_file}')


def map_with_progress(func: Callable,
                      items: Iterable,
                      nproc: int = 1,
                      total: Optional[int] = None,
                      desc: str = '',
                      chunksize: int = 8) -> Iterator:
    """Ordered ``map`` with a progress bar, in ``nproc`` processes.

    Results are yielded as they arrive (in input order), so the caller can
    stream them to a writer; only ``nproc * chunksize`` items are in flight.

    Args:
        func (callable): Picklable function of one item (use
            ``functools.partial`` for options).
        items (iterable): Inputs.
        nproc (int): Number of worker processes; 1 runs in this process.
        total (int, optional): Number of items, for the progress bar.
        desc (str): Progress bar label.
        chunksize (int): Items sent to a worker at a time.
    """
    if nproc < 1:
        raise ValueError(f'nproc must be >= 1, got {nproc}')
    bar = tqdm(total=total, desc=desc, unit='img', dynamic_ncols=True)
    try:
        if nproc == 1:
            for item in items:
                yield func(item)
                bar.update(1)
        else:
            with multiprocessing.Pool(nproc) as pool:
                for result in pool.imap(func, items, chunksize=chunksize):
                    yield result
                    bar.update(1)
    finally:
        bar.close()


def load_json(path: str, what: str) -> Any:
    """Load a JSON file; a missing or broken file is a clear error."""
    if not osp.isfile(path):
        raise ConversionError(f'{what} "{path}" does not exist')
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise ConversionError(f'{what} "{path}" is not valid JSON: {err}')


def require_keys(record: dict, keys: Sequence[str], where: str) -> None:
    """Raise a :class:`ConversionError` naming the missing keys."""
    missing = [k for k in keys if k not in record]
    if missing:
        raise ConversionError(f'{where}: missing key(s) {missing}')


WorkerResult = Tuple[Optional[dict], List[dict], ConversionReport]


def index_images(images: Sequence[dict], ann_file: str) -> Dict:
    """Index COCO-style ``images[]`` by id, checking the keys every
    converter needs (``id``, ``file_name``, ``height``, ``width``) and that
    no id repeats; errors name the file and the image id."""
    index = {}
    for img in images:
        require_keys(img, ['id', 'file_name', 'height', 'width'],
                     f'{ann_file}: image {img.get("id")}')
        if img['id'] in index:
            raise ConversionError(
                f'{ann_file}: image id {img["id"]} occurs twice')
        index[img['id']] = img
    return index
