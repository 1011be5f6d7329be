# Copyright (c) mmaims contributors. All rights reserved.
"""Ground truth of the federated metric, read from a hierarchical COCO file.

The annotation file is docs/formats.md section 1. It is read and validated
by :mod:`mmaims.structures.annotations`, the parser the dataset uses too, so
every segmentation is a compressed RLE and every problem is reported with
the file, image id and annotation id.
"""
from collections import Counter
from typing import Dict, FrozenSet, List, Optional

import numpy as np

from mmaims.structures.annotations import (ImageRecord, load_annotation_file,
                                           parse_annotations)
from mmaims.structures.drill_down import annotation_links, drill_down_prompts
from mmaims.structures.fields import LINK_TYPES, link_type
from mmaims.structures.levels import ENTITY, LEVELS, PART, RELATION
from mmaims.structures.mask import merge_rles


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
        prompts (dict[str, dict[int, dict]]): Per link type, the drill-down
            prompts of :func:`mmaims.structures.drill_down_prompts` by
            parent annotation id: ``rle`` (the prompt mask: the entity, or
            the union of the relation's two entities) and ``targets``
            (int64 rows into ``masks`` of the child level).
        prompts_skipped (dict[str, Counter]): Per link type, candidate
            prompts that are not scored, counted by reason.
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
        self.prompts: Dict[str, Dict[int, dict]] = {}
        self.prompts_skipped: Dict[str, Counter] = {}


class FederatedGroundTruth:
    """Index of a hierarchical COCO annotation dict for evaluation.

    Relations are parsed leniently (``strict_relations=False`` of
    :func:`mmaims.structures.annotations.parse_annotations`): the metric
    scores relation masks as given, so a relation may lack ``entity_ids``
    and need not be the union of its entities; ``entity_ids`` that are
    given must still name two different entities of the same image.

    Args:
        annotations (dict): The decoded annotation file (docs/formats.md
            section 1).
        file_name (str): Name used in error messages.

    Raises:
        HierarchicalAnnotationError: A ``ValueError`` naming the file, the
            image id and the annotation id of the first problem (see
            :func:`mmaims.structures.annotations.parse_annotations`).
    """

    def __init__(self,
                 annotations: dict,
                 file_name: str = 'annotations') -> None:
        self.file_name = file_name
        self.images: Dict[int, ImageGroundTruth] = {}
        for record in parse_annotations(
                annotations, file_name, strict_relations=False):
            self.images[record.id] = self._image_ground_truth(record)
        self.sources: List[str] = sorted(
            {image.source
             for image in self.images.values()})

    @classmethod
    def from_file(
            cls,
            ann_file: str,
            backend_args: Optional[dict] = None) -> 'FederatedGroundTruth':
        """Read an annotation file (any mmengine file backend) as JSON."""
        return cls(load_annotation_file(ann_file, backend_args), str(ann_file))

    @property
    def image_ids(self) -> List[int]:
        """All image ids, ascending."""
        return sorted(self.images)

    @staticmethod
    def _image_ground_truth(record: ImageRecord) -> ImageGroundTruth:
        image = ImageGroundTruth(record.id, frozenset(record.levels),
                                 record.source, record.height, record.width)
        per_level = {level: [] for level in LEVELS}
        for ann in record.annotations:
            per_level[ann.level].append(ann)
        rows: Dict[str, Dict[int, int]] = {}
        for level, anns in per_level.items():
            image.masks[level] = dict(
                ann_ids=np.array([ann.id for ann in anns], dtype=np.int64),
                rles=[ann.segmentation for ann in anns],
                crowd=np.array([ann.iscrowd for ann in anns], dtype=bool))
            rows[level] = {ann.id: row for row, ann in enumerate(anns)}

        entity_rows = rows[ENTITY]
        entity_crowd = image.masks[ENTITY]['crowd']
        pairs = {link: set() for link, _, _ in LINK_TYPES}
        for row, ann in enumerate(per_level[PART]):
            if ann.entity_id is None or ann.iscrowd:
                continue
            ent_row = entity_rows[ann.entity_id]
            if not entity_crowd[ent_row]:
                pairs['entity-part'].add((ent_row, row))
        for row, ann in enumerate(per_level[RELATION]):
            if ann.entity_ids is None or ann.iscrowd:
                continue
            for ent_id in ann.entity_ids:
                ent_row = entity_rows[ent_id]
                if not entity_crowd[ent_row]:
                    pairs['relation-entity'].add((row, ent_row))
        image.pairs = {
            link: np.array(sorted(p), dtype=np.int64).reshape(-1, 2)
            for link, p in pairs.items()
        }
        FederatedGroundTruth._add_prompts(image, record, rows)
        return image

    @staticmethod
    def _add_prompts(image: ImageGroundTruth, record: ImageRecord,
                     rows: Dict[str, Dict[int, int]]) -> None:
        """Fill ``image.prompts`` and ``image.prompts_skipped``."""
        links = [
            annotation_links(ann.level, ann.id, ann.iscrowd, ann.entity_id,
                             ann.entity_ids, ann.area)
            for ann in record.annotations
        ]
        prompts, image.prompts_skipped = drill_down_prompts(
            record.levels, links)
        segmentation = {ann.id: ann.segmentation for ann in record.annotations}
        image.prompts = {link.name: {} for link in LINK_TYPES}
        for prompt in prompts:
            child = link_type(prompt.type).child
            image.prompts[prompt.type][prompt.ann_id] = dict(
                rle=merge_rles(
                    [segmentation[i] for i in prompt.prompt_ann_ids]),
                targets=np.array(
                    [rows[child][i] for i in prompt.target_ann_ids],
                    dtype=np.int64))
