# Copyright (c) mmaims contributors. All rights reserved.
"""Read and validate a "hierarchical COCO" annotation file.

The format is docs/formats.md section 1. This module is the one place where
such a file is parsed: :class:`HierarchicalCocoDataset` turns the records
of :func:`parse_annotations` into its data infos and
``FederatedGroundTruth`` into the ground truth of the metric, so both
accept the same files and report the same problems in the same words.
"""
import json
import numbers
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
from mmengine.fileio import get
from mmengine.utils import ProgressBar

from .levels import ENTITY, LEVELS, PART, RELATION
from .mask import encode_mask, merge_rles, rle_area, rle_bbox, to_rle

# Files of up to this many images load without a progress bar: a bar over
# a few images is noise in the log.
_QUIET_IMAGES = 2000


class HierarchicalAnnotationError(ValueError):
    """An annotation file breaks a rule of the hierarchical COCO format.

    The message starts with the file and where the problem is:
    ``{file}: annotation id {ann_id} (image id {img_id}): {what}``,
    ``{file}: image id {img_id}: {what}``, or ``{file}: annotation id
    {ann_id}: {what}`` for a duplicate id or an unknown image (named in
    ``{what}``).
    """

    @classmethod
    def at(cls,
           file_name: str,
           message: str,
           image_id: Any = None,
           ann_id: Any = None) -> 'HierarchicalAnnotationError':
        """Build the error of a problem at an image and / or annotation.

        Args:
            file_name (str): The annotation file.
            message (str): What is wrong.
            image_id (int | str, optional): Id of the image concerned.
            ann_id (int, optional): Id of the annotation concerned.

        Returns:
            HierarchicalAnnotationError: The error, not raised.
        """
        where = str(file_name)
        if ann_id is not None:
            where += f': annotation id {ann_id}'
            if image_id is not None:
                where += f' (image id {image_id})'
        elif image_id is not None:
            where += f': image id {image_id}'
        return cls(f'{where}: {message}')


@dataclass
class AnnotationRecord:
    """One validated annotation of a hierarchical COCO file.

    Attributes:
        id (int): Annotation id, unique in the file.
        level (str): ``'part'``, ``'entity'`` or ``'relation'``.
        segmentation (dict): The mask as a compressed RLE with str counts
            and the image's size (polygons and uncompressed RLE are
            converted; a polygon of fewer than three points becomes an
            empty mask).
        area (int): Pixel count of the mask; 0 for an empty mask.
        bbox (list[float]): Tight ``[x, y, w, h]`` box of the mask.
        bbox_fixed (bool): Whether the file gave a ``bbox`` that differs
            from :attr:`bbox` (files written by other tools sometimes store
            an off-by-one box).
        iscrowd (bool): ``iscrowd`` of the file (an ignore region).
        category_id (int, optional): Source class, if given.
        entity_id (int, optional): Parts: id of the parent entity, an
            entity annotation of the same image. None for other levels.
        entity_ids (list[int], optional): Relations: ids of the subject
            and object, two different entity annotations of the same
            image. None for other levels and, unless relations are parsed
            strictly, for a relation that names no entities.
        predicate (str, optional): Relations: the predicate, if given.
    """

    id: int
    level: str
    segmentation: dict
    area: int
    bbox: List[float]
    bbox_fixed: bool
    iscrowd: bool
    category_id: Optional[int] = None
    entity_id: Optional[int] = None
    entity_ids: Optional[List[int]] = None
    predicate: Optional[str] = None


@dataclass
class ImageRecord:
    """One validated image of a hierarchical COCO file.

    Attributes:
        id (int | str): Image id, unique in the file.
        file_name (str, optional): ``file_name`` of the file, if given.
        height (int): Image height.
        width (int): Image width.
        levels (list[str]): Levels annotated exhaustively, in file order.
        source (str): Source dataset (``'default'`` if not given).
        valid_region (dict, optional): Non-empty compressed RLE (str
            counts) of the trustworthy region; None for the whole image.
        annotations (list[AnnotationRecord]): The image's annotations of
            all levels, in file order.
    """

    id: Any
    file_name: Optional[str]
    height: int
    width: int
    levels: List[str]
    source: str
    valid_region: Optional[dict]
    annotations: List[AnnotationRecord]


# error(message, ann_id=None): the error at an annotation of the image being
# parsed (or at the image itself).
_ErrorFn = Callable[..., HierarchicalAnnotationError]


def load_annotation_file(ann_file: str,
                         backend_args: Optional[dict] = None) -> Any:
    """Read an annotation file as JSON, whatever its name.

    ``mmengine.fileio.load`` picks the format from the extension, so it
    would unpickle a ``*.pkl`` or construct Python objects from a
    ``*.yaml``; an annotation file is JSON, and only JSON is decoded here.

    Args:
        ann_file (str): Path or URI (any mmengine file backend).
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        The decoded JSON value (:func:`parse_annotations` checks it).

    Raises:
        HierarchicalAnnotationError: If the file is not valid JSON.
    """
    content = get(ann_file, backend_args=backend_args)
    try:
        return json.loads(content)
    except ValueError as e:  # JSONDecodeError or UnicodeDecodeError
        raise HierarchicalAnnotationError(
            f'{ann_file}: not valid JSON (an annotation file is JSON, '
            f'whatever its extension): {e}') from e


def parse_annotations(annotations: Any,
                      file_name: str,
                      strict_relations: bool = True,
                      relation_union_tolerance: float = 0.0,
                      show_progress: bool = False) -> List[ImageRecord]:
    """Validate and normalise a hierarchical COCO annotation dict.

    The first problem raises a :class:`HierarchicalAnnotationError` naming
    the file and the image and / or annotation id. Problems are: a
    malformed top level; an image without ``id``, ``height``, ``width`` or
    ``levels``, with a size that is not a positive integer, ``levels`` not
    a list or naming an unknown level, a duplicate image id, a
    ``valid_region`` that is invalid, empty or not of the image's size; an
    annotation without ``id``, ``level`` or ``segmentation``, a duplicate
    annotation id, an unknown image id, an unknown level, an invalid
    segmentation or one not of the image's size; a dangling ``entity_id``
    / ``entity_ids`` (not an entity annotation of the same image),
    ``entity_ids`` that are not two different ids; with
    ``strict_relations``, a relation without ``entity_ids`` or whose mask
    is not the union of its two entities.

    Empty masks (an empty RLE, or polygons of fewer than three points) are
    not errors: they are kept with ``area=0`` and each consumer decides
    (the dataset skips them, the metric keeps them as unmatchable GT, as
    pycocotools does).

    Args:
        annotations: The decoded file, a dict with ``images`` and
            ``annotations`` lists.
        file_name (str): Name of the file in error messages.
        strict_relations (bool): Whether every relation must name its two
            entities in ``entity_ids`` and have their union as its mask.
            Training needs both; the metric scores relation masks as given
            and uses the links that are there. ``entity_ids`` that are
            given are validated either way. Defaults to True.
        relation_union_tolerance (float): With ``strict_relations``, the
            largest fraction of pixels, relative to the union of the two
            entities, where a relation mask may differ from that union.
            Defaults to 0 (exact).
        show_progress (bool): Show a progress bar over the images of files
            with thousands of them. Defaults to False.

    Returns:
        list[ImageRecord]: One record per image, in file order.

    Raises:
        HierarchicalAnnotationError: At the first problem.
    """
    if not isinstance(annotations, dict) or not isinstance(
            annotations.get('images'), list):
        raise HierarchicalAnnotationError(
            f'{file_name}: not a hierarchical COCO annotation file (no '
            '"images" list)')
    anns = annotations.get('annotations', [])
    if not isinstance(anns, list):
        raise HierarchicalAnnotationError(
            f'{file_name}: "annotations" must be a list')

    images: Dict[Any, dict] = {}
    for index, img in enumerate(annotations['images']):
        _check_image(img, index, images, file_name)
        images[img['id']] = img
    anns_per_image: Dict[Any, List[dict]] = {img_id: [] for img_id in images}
    ann_image: Dict[Any, Any] = {}
    for index, ann in enumerate(anns):
        if not isinstance(ann, dict):
            raise HierarchicalAnnotationError(
                f'{file_name}: annotations[{index}] is not an object')
        ann_id, img_id = ann.get('id'), ann.get('image_id')
        if ann_id is None:
            raise HierarchicalAnnotationError(
                f'{file_name}: an annotation has no "id" (image id {img_id})')
        if ann_id in ann_image:
            raise HierarchicalAnnotationError.at(
                file_name, 'duplicate annotation id (first on image id '
                f'{ann_image[ann_id]}, again on image id {img_id})',
                ann_id=ann_id)
        ann_image[ann_id] = img_id
        if img_id not in anns_per_image:
            raise HierarchicalAnnotationError.at(
                file_name,
                f'unknown image id {img_id} (not in "images")',
                ann_id=ann_id)
        anns_per_image[img_id].append(ann)

    show_progress = show_progress and len(images) > _QUIET_IMAGES
    progress = ProgressBar(len(images)) if show_progress else None
    records = []
    for img_id, img in images.items():
        records.append(
            _parse_image(img, anns_per_image[img_id], file_name,
                         strict_relations, relation_union_tolerance))
        if progress is not None:
            progress.update()
    return records


def _check_image(img: Any, index: int, images: Dict[Any, dict],
                 file_name: str) -> None:
    """Check an ``images[]`` entry; ``images`` holds those before it."""
    if not isinstance(img, dict):
        raise HierarchicalAnnotationError(
            f'{file_name}: images[{index}] is not an object')
    if img.get('id') is None:
        raise HierarchicalAnnotationError(
            f'{file_name}: images[{index}] has no "id" (file_name '
            f'{img.get("file_name")!r})')
    img_id = img['id']
    if img_id in images:
        raise HierarchicalAnnotationError.at(
            file_name, 'duplicate image id', image_id=img_id)
    for key in ('height', 'width', 'levels'):
        if key not in img:
            raise HierarchicalAnnotationError.at(
                file_name, f'missing "{key}"', image_id=img_id)
    for key in ('height', 'width'):
        value = img[key]
        if not _is_positive_int(value):
            raise HierarchicalAnnotationError.at(
                file_name, f'"{key}" must be a positive integer, got '
                f'{value!r}',
                image_id=img_id)
    levels = img['levels']
    if not isinstance(levels, (list, tuple)):
        raise HierarchicalAnnotationError.at(
            file_name, '"levels" must be a list of level names, got '
            f'{levels!r}',
            image_id=img_id)
    for level in levels:
        if level not in LEVELS:
            raise HierarchicalAnnotationError.at(
                file_name, f'unknown level "{level}" in "levels"; expected '
                f'one of {", ".join(LEVELS)}',
                image_id=img_id)


def _is_positive_int(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return float(value).is_integer() and value > 0


def _parse_image(img: dict, anns: List[dict], file_name: str,
                 strict_relations: bool,
                 relation_union_tolerance: float) -> ImageRecord:
    img_id, height, width = img['id'], int(img['height']), int(img['width'])

    def error(message: str, ann_id: Any = None) -> HierarchicalAnnotationError:
        return HierarchicalAnnotationError.at(
            file_name, message, image_id=img_id, ann_id=ann_id)

    valid_region = None
    if img.get('valid_region') is not None:
        valid_region, area = _segmentation_to_rle(img['valid_region'], height,
                                                  width, 'valid_region', error)
        if area == 0:
            raise error('valid_region is empty')

    records = [
        _parse_annotation(ann, height, width, strict_relations, error)
        for ann in anns
    ]
    by_id = {record.id: record for record in records}
    for record in records:
        if record.entity_id is not None:
            _resolve_entity(record, record.entity_id, 'entity_id', by_id,
                            error)
        if record.entity_ids is not None:
            entities = [
                _resolve_entity(record, ent_id, 'entity_ids', by_id, error)
                for ent_id in record.entity_ids
            ]
            if strict_relations:
                _check_union(record, entities, relation_union_tolerance, error)
    return ImageRecord(
        id=img_id,
        file_name=img.get('file_name'),
        height=height,
        width=width,
        levels=list(img['levels']),
        source=str(img.get('source', 'default')),
        valid_region=valid_region,
        annotations=records)


def _parse_annotation(ann: dict, height: int, width: int,
                      strict_relations: bool,
                      error: _ErrorFn) -> AnnotationRecord:
    ann_id, level = ann['id'], ann.get('level')
    if level is None:
        raise error(
            'unknown or missing level: the annotation has no "level"; '
            f'expected one of {", ".join(LEVELS)}', ann_id)
    if level not in LEVELS:
        raise error(
            f'unknown or missing level: unknown level "{level}"; expected '
            f'one of {", ".join(LEVELS)}', ann_id)
    if 'segmentation' not in ann:
        raise error('missing "segmentation"', ann_id)
    rle, area = _segmentation_to_rle(ann['segmentation'], height, width,
                                     'segmentation', error, ann_id)
    bbox = rle_bbox(rle)
    record = AnnotationRecord(
        id=ann_id,
        level=level,
        segmentation=rle,
        area=area,
        bbox=bbox,
        bbox_fixed='bbox' in ann and _box_differs(ann['bbox'], bbox),
        iscrowd=bool(ann.get('iscrowd', 0)),
        category_id=ann.get('category_id'))
    if level == PART:
        record.entity_id = ann.get('entity_id')
    elif level == RELATION:
        entity_ids = ann.get('entity_ids')
        if entity_ids is not None or strict_relations:
            if not isinstance(entity_ids,
                              (list, tuple)) or len(entity_ids) != 2:
                raise error(
                    '"entity_ids" must be a list of two entity ids '
                    f'[subject_id, object_id], got {entity_ids!r}', ann_id)
            if entity_ids[0] == entity_ids[1]:
                raise error(
                    'a relation needs two different entities, got '
                    f'entity_ids {list(entity_ids)}', ann_id)
            record.entity_ids = list(entity_ids)
        record.predicate = ann.get('predicate')
    return record


def _segmentation_to_rle(segm: Union[dict, list],
                         height: int,
                         width: int,
                         what: str,
                         error: _ErrorFn,
                         ann_id: Any = None) -> Tuple[dict, int]:
    """Compressed RLE of ``segm`` and its area, checked against the image
    size."""
    if isinstance(segm, dict) and 'size' in segm:
        try:
            size = [int(s) for s in segm['size']]
        except (TypeError, ValueError) as e:
            raise error(f'invalid {what}: bad "size" {segm["size"]!r}',
                        ann_id) from e
        if size != [height, width]:
            raise error(
                f'{what} RLE size {size}: mask size {size} differs from the '
                f'image size {[height, width]}', ann_id)
    if isinstance(segm, list) and all(
            isinstance(poly, (list, tuple)) and len(poly) < 6
            for poly in segm):
        # Fewer than three points cover no pixel; pycocotools would read a
        # four-number "polygon" as a box.
        return encode_mask(np.zeros((height, width), dtype=bool)), 0
    try:
        # to_rle checks an RLE's counts (pycocotools does not, and merging
        # a mask with bad counts never returns)
        rle = to_rle(segm, height, width)
        area = rle_area(rle)
    except (TypeError, ValueError) as e:
        raise error(f'invalid {what}: {e}', ann_id) from e
    return rle, area


def _box_differs(file_bbox: Any, bbox: List[float]) -> bool:
    try:
        return not np.allclose(np.asarray(file_bbox, dtype=float), bbox)
    except (TypeError, ValueError):  # not four numbers
        return True


def _resolve_entity(record: AnnotationRecord, ent_id: Any, key: str,
                    by_id: Dict[Any, AnnotationRecord],
                    error: _ErrorFn) -> AnnotationRecord:
    """The entity annotation ``ent_id`` of the same image."""
    target = by_id.get(ent_id) if isinstance(ent_id, Hashable) else None
    if target is None or target.level != ENTITY:
        found = 'no annotation of this image has that id' \
            if target is None else \
            f'annotation {ent_id} is of level "{target.level}"'
        raise error(
            f'"{key}" points at {ent_id}, which is not an entity annotation '
            f'of the same image (dangling {key}: {found})', record.id)
    return target


def _check_union(record: AnnotationRecord, entities: List[AnnotationRecord],
                 tolerance: float, error: _ErrorFn) -> None:
    """Raise if a relation mask is not the union of its two entities."""
    union = merge_rles([entity.segmentation for entity in entities])
    union_area = rle_area(union)
    # |relation xor union| = 2 |relation or union| - |relation| - |union|
    diff = 2 * rle_area(merge_rles([record.segmentation, union])) \
        - record.area - union_area
    if diff > tolerance * union_area:
        raise error(
            'relation mask is not the union of its entities '
            f'{record.entity_ids} ({diff} pixels differ)', record.id)
