# Copyright (c) mmaims contributors. All rights reserved.
"""Dataset reading the "hierarchical COCO" annotation file.

The format is defined in ``shared/docs/formats.md`` section 1: a COCO
instances JSON whose ``images[]`` carry ``levels``, ``source`` and an
optional ``valid_region`` and whose ``annotations[]`` carry ``level``,
``entity_id`` (parts) and ``entity_ids`` (relations).
"""
import os.path as osp
from collections import Counter, defaultdict
from typing import Dict, List, Optional

import numpy as np
import pycocotools.mask as mask_util
from mmdet.datasets import BaseDetDataset
from mmengine.fileio import exists, get_local_path, load
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

from mmaims.registry import DATASETS
from mmaims.structures import ENTITY, LEVELS, PART, RELATION, to_rle


class HierarchicalAnnotationError(ValueError):
    """An annotation file breaks a rule of the hierarchical COCO format."""


def _bytes_rle(rle: dict) -> dict:
    counts = rle['counts']
    if isinstance(counts, str):
        counts = counts.encode('ascii')
    return dict(size=list(rle['size']), counts=counts)


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

    The file is validated while it is loaded. A
    :class:`HierarchicalAnnotationError` names the file, the image id and
    the annotation id for: a missing required key, an unknown level, an
    annotation of an unknown image, duplicate ids, an RLE whose size is not
    the image size, a dangling ``entity_id`` / ``entity_ids`` (not an
    entity annotation of the same image), a relation whose mask is not the
    union of its two entities, and a missing image file.

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
        with get_local_path(
                self.ann_file, backend_args=self.backend_args) as local_path:
            raw = load(local_path, file_format='json')
        if not isinstance(raw, dict) or 'images' not in raw:
            raise HierarchicalAnnotationError(
                f'{self.ann_file}: not a COCO annotation file (no "images")')
        self._skipped = Counter()
        self._bbox_fixed = 0

        images = raw['images']
        anns_by_image: Dict[object, List[dict]] = defaultdict(list)
        image_ids = set()
        for img in images:
            self._check_image(img)
            if img['id'] in image_ids:
                raise self._error(img['id'], None, 'duplicate image id')
            image_ids.add(img['id'])
        ann_ids = set()
        for ann in raw.get('annotations', []):
            if 'id' not in ann:
                raise HierarchicalAnnotationError(
                    f'{self.ann_file}: an annotation has no "id" '
                    f'(image id {ann.get("image_id")})')
            if ann['id'] in ann_ids:
                raise self._error(
                    ann.get('image_id'), ann['id'], 'duplicate annotation id')
            ann_ids.add(ann['id'])
            if ann.get('image_id') not in image_ids:
                raise self._error(
                    ann.get('image_id'), ann['id'],
                    'annotation refers to an image id that is not in '
                    '"images"')
            anns_by_image[ann['image_id']].append(ann)

        data_list = []
        progress = ProgressBar(len(images)) if len(images) > 2000 else None
        for img in images:
            data_list.append(
                self.parse_data_info(
                    dict(raw_img_info=img,
                         raw_ann_info=anns_by_image.get(img['id'], []))))
            if progress is not None:
                progress.update()
        self._log_load_summary(len(data_list))
        return data_list

    def parse_data_info(self, raw_data_info: dict) -> dict:
        """Parse and validate one image and its annotations.

        Args:
            raw_data_info (dict): ``raw_img_info`` (an ``images[]`` entry)
                and ``raw_ann_info`` (its ``annotations[]``).

        Returns:
            dict: The data info of the image.
        """
        img = raw_data_info['raw_img_info']
        anns = raw_data_info['raw_ann_info']
        img_id, h, w = img['id'], int(img['height']), int(img['width'])

        # mmdet configs name the image prefix 'img'; mmengine's default
        # data_prefix names it 'img_path' (both are joined with data_root)
        prefix = self.data_prefix.get('img',
                                      self.data_prefix.get('img_path', ''))
        img_path = osp.join(prefix, img['file_name'])
        if self.check_image_files and not exists(
                img_path, backend_args=self.backend_args):
            raise self._error(img_id, None,
                              f'image file "{img_path}" does not exist')

        valid_region = None
        if img.get('valid_region') is not None:
            valid_region = self._normalise(img['valid_region'], h, w, img_id,
                                           None, 'valid_region')
            if valid_region is None:
                raise self._error(img_id, None, 'valid_region is empty')

        instances, skipped_ids = [], set()
        by_id = {}
        for ann in anns:
            inst = self._parse_ann(ann, img_id, h, w)
            if inst is None:
                skipped_ids.add(ann['id'])
                continue
            by_id[inst['ann_id']] = inst
            instances.append(inst)

        kept = []
        for inst in instances:
            if inst['level'] == PART and inst['entity_id'] is not None:
                parent = self._resolve(inst, inst['entity_id'], by_id,
                                       skipped_ids, img_id)
                if parent is None:
                    self._skipped['part parent skipped (link removed)'] += 1
                    inst['entity_id'] = None
            elif inst['level'] == RELATION:
                parents = [
                    self._resolve(inst, eid, by_id, skipped_ids, img_id)
                    for eid in inst['entity_ids']
                ]
                if any(p is None for p in parents):
                    self._skipped['relation whose entity was skipped'] += 1
                    continue
                self._check_union(inst, parents, img_id)
            kept.append(inst)

        return dict(
            img_id=img_id,
            img_path=img_path,
            height=h,
            width=w,
            levels=list(img['levels']),
            source=str(img.get('source', 'default')),
            valid_region=valid_region,
            instances=kept)

    def _check_image(self, img: dict) -> None:
        img_id = img.get('id')
        for key in ('id', 'file_name', 'height', 'width', 'levels'):
            if key not in img:
                raise self._error(img_id, None,
                                  f'image has no required key "{key}"')
        if not isinstance(img['levels'], (list, tuple)):
            raise self._error(img_id, None,
                              '"levels" must be a list of level names, got '
                              f'{img["levels"]!r}')
        for level in img['levels']:
            if level not in LEVELS:
                raise self._error(
                    img_id, None, f'unknown level "{level}" in "levels"; '
                    f'expected one of {", ".join(LEVELS)}')

    def _parse_ann(self, ann: dict, img_id, h: int,
                   w: int) -> Optional[dict]:
        ann_id = ann['id']
        level = ann.get('level')
        if level is None:
            raise self._error(img_id, ann_id, 'annotation has no "level"')
        if level not in LEVELS:
            raise self._error(
                img_id, ann_id, f'unknown level "{level}"; expected one of '
                f'{", ".join(LEVELS)}')
        if 'segmentation' not in ann:
            raise self._error(img_id, ann_id, 'annotation has no '
                              '"segmentation"')
        rle = self._normalise(ann['segmentation'], h, w, img_id, ann_id,
                              'segmentation')
        if rle is None:
            self._skipped[f'empty {level} mask'] += 1
            return None
        x, y, bw, bh = mask_util.toBbox(_bytes_rle(rle)).tolist()
        if 'bbox' in ann and not np.allclose(ann['bbox'], [x, y, bw, bh]):
            self._bbox_fixed += 1

        inst = dict(
            level=level,
            mask=rle,
            bbox=[x, y, x + bw, y + bh],
            ignore_flag=int(bool(ann.get('iscrowd', 0))),
            ann_id=ann_id,
            category_id=ann.get('category_id'))
        if level == PART:
            inst['entity_id'] = ann.get('entity_id')
        elif level == RELATION:
            entity_ids = ann.get('entity_ids')
            if not isinstance(entity_ids, (list, tuple)) or len(
                    entity_ids) != 2:
                raise self._error(
                    img_id, ann_id, 'a relation needs "entity_ids" = '
                    f'[subject_id, object_id], got {entity_ids!r}')
            if entity_ids[0] == entity_ids[1]:
                raise self._error(
                    img_id, ann_id, 'a relation needs two different '
                    f'entities, got entity_ids {list(entity_ids)}')
            inst['entity_ids'] = list(entity_ids)
            if ann.get('predicate') is not None:
                inst['predicate'] = ann['predicate']
        return inst

    def _normalise(self, segm, h: int, w: int, img_id, ann_id,
                   what: str) -> Optional[dict]:
        """Return a compressed RLE of ``segm`` or None if it is empty."""
        if isinstance(segm, dict) and 'size' in segm:
            if [int(s) for s in segm['size']] != [h, w]:
                raise self._error(
                    img_id, ann_id, f'{what} RLE size {list(segm["size"])} '
                    f'differs from the image size [{h}, {w}]')
        try:
            rle = to_rle(segm, h, w)
        except ValueError as e:
            if isinstance(segm, list):
                # A polygon with fewer than 3 points covers no pixel.
                return None
            raise self._error(img_id, ann_id, f'invalid {what}: {e}') from e
        if mask_util.area(_bytes_rle(rle)) == 0:
            return None
        return rle

    def _resolve(self, inst: dict, target_id, by_id: dict, skipped_ids: set,
                 img_id) -> Optional[dict]:
        """Return the entity ``target_id`` links to, or None if skipped."""
        if target_id in skipped_ids:
            return None
        parent = by_id.get(target_id)
        if parent is None or parent['level'] != ENTITY:
            found = 'no annotation' if parent is None else \
                f'an annotation of level "{parent["level"]}"'
            key = 'entity_id' if inst['level'] == PART else 'entity_ids'
            raise self._error(
                img_id, inst['ann_id'], f'dangling {key}: {target_id} is '
                f'{found} of this image, expected an entity')
        return parent

    def _check_union(self, inst: dict, parents: List[dict], img_id) -> None:
        union = mask_util.merge([_bytes_rle(p['mask']) for p in parents])
        rel = _bytes_rle(inst['mask'])
        inter = mask_util.merge([rel, union], intersect=1)
        union_area = float(mask_util.area(union))
        diff = (mask_util.area(rel) + union_area - 2 * mask_util.area(inter))
        if diff > self.relation_union_tolerance * union_area:
            raise self._error(
                img_id, inst['ann_id'],
                f'relation mask is not the union of its entities '
                f'{inst["entity_ids"]} ({int(diff)} pixels differ)')

    def _error(self, img_id, ann_id, message: str) -> Exception:
        where = f'{self.ann_file}: image id {img_id}'
        if ann_id is not None:
            where += f', annotation id {ann_id}'
        return HierarchicalAnnotationError(f'{where}: {message}')

    def _log_load_summary(self, num_images: int) -> None:
        parts = [f'{num_images} images from {self.ann_file}']
        if self._bbox_fixed:
            parts.append(f'{self._bbox_fixed} annotation boxes differed '
                         'from their masks and were recomputed')
        for reason, count in sorted(self._skipped.items()):
            parts.append(f'skipped {count}: {reason}')
        print_log('; '.join(parts), logger='current')

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
        """
        if self.test_mode or not self.filter_cfg:
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
