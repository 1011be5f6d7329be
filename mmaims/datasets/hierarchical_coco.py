# Copyright (c) mmaims contributors. All rights reserved.
"""Dataset reading the "hierarchical COCO" annotation file.

The format is defined in docs/formats.md section 1: a COCO instances JSON
whose ``images[]`` carry ``levels``, ``source`` and an optional
``valid_region`` and whose ``annotations[]`` carry ``level``, ``entity_id``
(parts) and ``entity_ids`` (relations).
"""
import os.path as osp
import logging
from collections import Counter
from typing import List

from mmdet.datasets import BaseDetDataset
from mmengine.fileio import exists
from mmengine.logging import print_log

from mmaims.registry import DATASETS
from mmaims.structures import ENTITY, LEVELS, PART, RELATION
from mmaims.structures.annotations import (HierarchicalAnnotationError,
                                           ImageRecord, load_annotation_file,
                                           parse_annotations)


@DATASETS.register_module()
class HierarchicalCocoDataset(BaseDetDataset):
    """Class-agnostic multi-level dataset in the hierarchical COCO format.

    Every image becomes one data info dict::

        dict(img_id, img_path, height, width,
             levels=['part', 'entity'],     # exhaustively annotated levels
             source='ppp',
             valid_region=RLE or None,      # compressed RLE, str counts
             instances=[dict(
                 level='part' | 'entity' | 'relation',
                 mask=RLE,                  # compressed RLE, str counts
                 bbox=[x1, y1, x2, y2],     # tight box of the mask
                 ignore_flag=0 | 1,         # 1 for iscrowd annotations
                 ann_id=int,
                 entity_id=int | None,      # parts: parent annotation id
                 entity_ids=[int, int],     # relations: (subject, object)
                 category_id=int | None), ...])

    The file is read as JSON and validated by
    :func:`mmaims.structures.annotations.parse_annotations` (the parser the
    metric uses too), with strict relations: every relation names its two
    entities and its mask is their union. A
    :class:`HierarchicalAnnotationError` names the file, the image id and
    the annotation id of the first problem; the dataset adds an image
    without ``file_name`` and a missing image file.

    Input is normalised: polygons and uncompressed RLE become compressed
    RLE, ``bbox`` is recomputed from the mask (files written by other
    tools sometimes store the box area or an off-by-one box; how many boxes
    differed is logged). Annotations whose mask is empty are skipped, and
    so are the links to them (a part whose parent was skipped keeps
    ``entity_id=None``; a relation that lost an entity is skipped): every
    skip is counted and logged with its reason.

    Args:
        relation_union_tolerance (float): Largest allowed fraction of
            pixels, relative to the union of the two entities, where a
            relation mask may differ from that union. Defaults to 0 (exact).
        check_image_files (bool): Whether to check on load that every image
            file exists. Defaults to True.
        **kwargs: Arguments of :class:`mmdet.datasets.BaseDetDataset`
            (``ann_file``, ``data_root``, ``data_prefix=dict(img=...)``,
            ``filter_cfg=dict(filter_empty_gt=..., min_size=...)``,
            ``pipeline``, ``test_mode``, ``lazy_init``,
            ``serialize_data``, ``backend_args``...).
    """

    METAINFO = {
        'classes': ('entity', ),
        'palette': [(220, 20, 60)],
        'levels': LEVELS,
    }

    def __init__(self,
                 *args,
                 relation_union_tolerance: float = 0.0,
                 check_image_files: bool = True,
                 **kwargs) -> None:
        self.relation_union_tolerance = relation_union_tolerance
        self.check_image_files = check_image_files
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------
    # loading
    # ------------------------------------------------------------------
    def load_data_list(self) -> List[dict]:
        """Load and validate the annotation file.

        Returns:
            list[dict]: One data info per image, see the class docstring.
        """
        records = parse_annotations(
            load_annotation_file(
                self.ann_file, backend_args=self.backend_args),
            self.ann_file,
            relation_union_tolerance=self.relation_union_tolerance,
            show_progress=True)
        self._skipped = Counter()
        self._bbox_fixed = 0
        self._empty_levels = Counter()
        self._empty_level_example = {}
        data_list = [self.parse_data_info(record) for record in records]
        self._log_load_summary(len(data_list))
        return data_list

    def parse_data_info(self, record: ImageRecord) -> dict:
        """Turn one validated image into its data info.

        Args:
            record (ImageRecord): The image and its annotations, as
                :func:`parse_annotations` returns them.

        Returns:
            dict: The data info of the image.
        """
        if record.file_name is None:
            raise HierarchicalAnnotationError.at(
                self.ann_file, 'missing "file_name"', image_id=record.id)
        # mmdet configs name the image prefix 'img'; mmengine's default
        # data_prefix names it 'img_path' (both are joined with data_root)
        prefix = self.data_prefix.get('img',
                                      self.data_prefix.get('img_path', ''))
        img_path = osp.join(prefix, record.file_name)
        if self.check_image_files and not exists(
                img_path, backend_args=self.backend_args):
            raise HierarchicalAnnotationError.at(
                self.ann_file,
                f'image file "{img_path}" does not exist',
                image_id=record.id)

        instances = []
        for ann in record.annotations:
            if ann.area == 0:
                self._skipped[f'empty {ann.level} mask'] += 1
                continue
            if ann.bbox_fixed:
                self._bbox_fixed += 1
            x, y, w, h = ann.bbox
            inst = dict(
                level=ann.level,
                mask=ann.segmentation,
                bbox=[x, y, x + w, y + h],
                ignore_flag=int(ann.iscrowd),
                ann_id=ann.id,
                category_id=ann.category_id)
            if ann.level == PART:
                inst['entity_id'] = ann.entity_id
            elif ann.level == RELATION:
                inst['entity_ids'] = ann.entity_ids
                if ann.predicate is not None:
                    inst['predicate'] = ann.predicate
            instances.append(inst)

        # links are valid (the parser checked them) unless their target
        # was skipped above
        kept_entities = {
            inst['ann_id']
            for inst in instances if inst['level'] == ENTITY
        }
        kept = []
        for inst in instances:
            if inst['level'] == PART and inst['entity_id'] is not None \
                    and inst['entity_id'] not in kept_entities:
                self._skipped['part parent skipped (link removed)'] += 1
                inst['entity_id'] = None
            elif inst['level'] == RELATION and not all(
                    e in kept_entities for e in inst['entity_ids']):
                self._skipped['relation whose entity was skipped'] += 1
                continue
            kept.append(inst)

        present = {inst['level'] for inst in kept}
        for level in record.levels:
            if level not in present:
                self._empty_levels[level] += 1
                self._empty_level_example.setdefault(level, record.id)
        return dict(
            img_id=record.id,
            img_path=img_path,
            height=record.height,
            width=record.width,
            levels=record.levels,
            source=record.source,
            valid_region=record.valid_region,
            instances=kept)

    def _log_load_summary(self, num_images: int) -> None:
        parts = [f'{num_images} images from {self.ann_file}']
        if self._bbox_fixed:
            parts.append(f'{self._bbox_fixed} annotation boxes differed '
                         'from their masks and were recomputed')
        for reason, count in sorted(self._skipped.items()):
            parts.append(f'skipped {count}: {reason}')
        print_log('; '.join(parts), logger='current')
        for level, count in sorted(self._empty_levels.items()):
            print_log(
                f'{self.ann_file}: {count} images list "{level}" in their '
                f'levels but have no {level} annotation (e.g. image id '
                f'{self._empty_level_example[level]}): for them the level '
                f'is claimed exhaustive and empty, so every {level} '
                'predicted there counts as wrong; check that this is meant',
                logger='current',
                level=logging.WARNING)

    # ------------------------------------------------------------------
    # filtering
    # ------------------------------------------------------------------
    def filter_data(self) -> List[dict]:
        """Filter images as mmdet's ``CocoDataset`` does.

        ``filter_cfg.filter_empty_gt`` drops images without any non-crowd
        annotation (of any level); ``filter_cfg.min_size`` drops images whose
        shorter side is smaller. Nothing is filtered in test mode. The
        number of dropped images is logged.

        Returns:
            list[dict]: Kept data infos.

        Raises:
            HierarchicalAnnotationError: If no image is left (mmengine
                would fail later with a bare numpy error).
        """
        if self.test_mode or not self.filter_cfg:
            if not self.data_list:
                raise HierarchicalAnnotationError(
                    f'{self.ann_file}: the file has no usable image')
            return self.data_list
        filter_empty_gt = self.filter_cfg.get('filter_empty_gt', False)
        min_size = self.filter_cfg.get('min_size', 0)
        kept, empty, small = [], 0, 0
        for info in self.data_list:
            if filter_empty_gt and not any(
                    not inst['ignore_flag'] for inst in info['instances']):
                empty += 1
                continue
            if min(info['width'], info['height']) < min_size:
                small += 1
                continue
            kept.append(info)
        if empty or small:
            print_log(
                f'{self.ann_file}: filtered {empty} images without '
                f'annotations and {small} images smaller than {min_size} px',
                logger='current')
        if not kept:
            raise HierarchicalAnnotationError(
                f'{self.ann_file}: no usable image: of {len(self.data_list)} '
                f'images, {empty} have no non-crowd annotation and {small} '
                f'are smaller than {min_size} px (filter_cfg)')
        return kept

    def get_cat_ids(self, idx: int) -> List[int]:
        """All instances share the class-agnostic label 0.

        Args:
            idx (int): Index of the image.

        Returns:
            list[int]: One 0 per non-crowd entity instance.
        """
        return [
            0 for inst in self.get_data_info(idx)['instances']
            if inst['level'] == ENTITY and not inst['ignore_flag']
        ]
