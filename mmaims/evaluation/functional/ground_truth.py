# Copyright (c) mmaims contributors. All rights reserved.
"""Ground truth of the federated metric, read from a hierarchical COCO file.

The annotation file is formats.md section 1. Every segmentation is normalised
to a compressed RLE once, when the file is read, and every problem is
reported with the file, image id and annotation id.
"""
from collections import defaultdict
from typing import Dict, FrozenSet, List, Optional

import numpy as np

from mmaims.structures.levels import ENTITY, LEVELS, LINK_TYPES, PART, RELATION
from mmaims.structures.mask import to_rle


class ImageGroundTruth:
    """GT of one image, grouped by level.

    Attributes:
        id (int): Image id.
        levels (frozenset[str]): Levels annotated exhaustively.
        source (str): Source dataset name.
        height (int): Image height.
        width (int): Image width.
        masks (dict[str, dict]): Per level, ``ann_ids`` (``G`` int64),
            ``rles`` (``G`` compressed RLEs, file order) and ``crowd``
            (``G`` bool).
        pairs (dict[str, np.ndarray]): Per link type of
            :data:`mmaims.structures.LINK_TYPES`, ``M x 2`` int64 rows
            ``(parent row, child row)`` into ``masks`` of the parent and
            child levels. Pairs touching a crowd annotation are left out.
    """

    def __init__(self, img_id: int, levels: FrozenSet[str], source: str,
                 height: int, width: int) -> None:
        self.id = img_id
        self.levels = levels
        self.source = source
        self.height = height
        self.width = width
        self.masks: Dict[str, dict] = {}
        self.pairs: Dict[str, np.ndarray] = {}


class FederatedGroundTruth:
    """Index of a hierarchical COCO annotation dict for evaluation.

    Args:
        annotations (dict): The parsed annotation file (formats.md
            section 1).
        file_name (str): Name used in error messages.

    Raises:
        ValueError: On a missing or malformed key, a duplicate id, an
            unknown level, an annotation of an unknown image, a mask whose
            size differs from its image, or a dangling ``entity_id`` /
            ``entity_ids``. The message names the file and the image or
            annotation id.
    """

    def __init__(self,
                 annotations: dict,
                 file_name: str = 'annotations') -> None:
        self.file_name = file_name
        if not isinstance(annotations, dict) or 'images' not in annotations:
            raise ValueError(f'{file_name}: not an annotation file (no '
                             '"images" list)')
        self.images: Dict[int, ImageGroundTruth] = {}
        for img in annotations['images']:
            self._add_image(img)
        anns_per_image: Dict[int, List[dict]] = defaultdict(list)
        seen_ids = set()
        for ann in annotations.get('annotations', []):
            ann_id = ann.get('id')
            where = f'{file_name}: annotation id {ann_id}'
            if ann_id is None:
                raise ValueError(f'{file_name}: an annotation has no "id" '
                                 f'(image id {ann.get("image_id")})')
            if ann_id in seen_ids:
                raise ValueError(f'{where}: duplicate annotation id')
            seen_ids.add(ann_id)
            if ann.get('image_id') not in self.images:
                raise ValueError(f'{where}: unknown image id '
                                 f'{ann.get("image_id")}')
            anns_per_image[ann['image_id']].append(ann)
        for img_id, image in self.images.items():
            self._add_annotations(image, anns_per_image.get(img_id, []))
        self.sources: List[str] = sorted(
            {image.source
             for image in self.images.values()})

    @classmethod
    def from_file(
            cls,
            ann_file: str,
            backend_args: Optional[dict] = None) -> 'FederatedGroundTruth':
        """Read an annotation file (any mmengine file backend)."""
        from mmengine.fileio import load
        return cls(load(ann_file, backend_args=backend_args), str(ann_file))

    @property
    def image_ids(self) -> List[int]:
        """All image ids, ascending."""
        return sorted(self.images)

    def _add_image(self, img: dict) -> None:
        img_id = img.get('id')
        where = f'{self.file_name}: image id {img_id}'
        if img_id is None:
            raise ValueError(f'{self.file_name}: an image has no "id" '
                             f'({img.get("file_name")})')
        if img_id in self.images:
            raise ValueError(f'{where}: duplicate image id')
        for key in ('height', 'width', 'levels'):
            if key not in img:
                raise ValueError(f'{where}: missing "{key}"')
        levels = img['levels']
        if not isinstance(levels, (list, tuple)):
            raise ValueError(f'{where}: "levels" must be a list, got '
                             f'{levels!r}')
        for level in levels:
            if level not in LEVELS:
                raise ValueError(f'{where}: unknown level "{level}" in '
                                 f'"levels"; expected {", ".join(LEVELS)}')
        self.images[img_id] = ImageGroundTruth(
            img_id, frozenset(levels), str(img.get('source', 'default')),
            int(img['height']), int(img['width']))

    def _add_annotations(self, image: ImageGroundTruth,
                         anns: List[dict]) -> None:
        per_level: Dict[str, List[dict]] = {level: [] for level in LEVELS}
        for ann in anns:
            where = f'{self.file_name}: annotation id {ann["id"]} ' \
                    f'(image id {image.id})'
            level = ann.get('level')
            if level not in LEVELS:
                raise ValueError(f'{where}: unknown or missing level '
                                 f'{level!r}; expected {", ".join(LEVELS)}')
            if 'segmentation' not in ann:
                raise ValueError(f'{where}: missing "segmentation"')
            try:
                rle = to_rle(ann['segmentation'], image.height, image.width)
            except Exception as e:
                raise ValueError(f'{where}: bad segmentation: {e}') from e
            if list(rle['size']) != [image.height, image.width]:
                raise ValueError(f'{where}: mask size {rle["size"]} differs '
                                 f'from the image size '
                                 f'{[image.height, image.width]}')
            per_level[level].append(dict(ann=ann, rle=rle))
        rows: Dict[str, Dict[int, int]] = {}
        for level, items in per_level.items():
            image.masks[level] = dict(
                ann_ids=np.array([it['ann']['id'] for it in items],
                                 dtype=np.int64),
                rles=[it['rle'] for it in items],
                crowd=np.array(
                    [bool(it['ann'].get('iscrowd', 0)) for it in items],
                    dtype=bool))
            rows[level] = {it['ann']['id']: i for i, it in enumerate(items)}
        image.pairs = self._collect_pairs(image, per_level, rows)

    def _collect_pairs(
            self, image: ImageGroundTruth, per_level: Dict[str, List[dict]],
            rows: Dict[str, Dict[int, int]]) -> Dict[str, np.ndarray]:
        entity_rows = rows[ENTITY]
        entity_crowd = image.masks[ENTITY]['crowd']
        pairs: Dict[str, set] = {link: set() for link, _, _ in LINK_TYPES}
        for level, key, link in ((PART, 'entity_id', 'entity-part'),
                                 (RELATION, 'entity_ids', 'relation-entity')):
            crowd = image.masks[level]['crowd']
            for row, item in enumerate(per_level[level]):
                ann = item['ann']
                where = f'{self.file_name}: annotation id {ann["id"]} ' \
                        f'(image id {image.id})'
                ref = ann.get(key)
                if ref is None:
                    continue
                if level == PART:
                    refs = [ref]
                elif isinstance(ref, (list, tuple)) and len(ref) == 2:
                    refs = list(ref)
                else:
                    raise ValueError(f'{where}: "entity_ids" must be a list '
                                     f'of two entity ids, got {ref!r}')
                for ent_id in refs:
                    if ent_id not in entity_rows:
                        raise ValueError(
                            f'{where}: "{key}" points at {ent_id}, which is '
                            'not an entity annotation of the same image')
                    ent_row = entity_rows[ent_id]
                    if crowd[row] or entity_crowd[ent_row]:
                        continue
                    if link == 'entity-part':
                        pairs[link].add((ent_row, row))
                    else:
                        pairs[link].add((row, ent_row))
        return {
            link: np.array(sorted(p), dtype=np.int64).reshape(-1, 2)
            for link, p in pairs.items()
        }
