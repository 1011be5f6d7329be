# Copyright (c) mmaims contributors. All rights reserved.
"""Shared builders of small random GT / prediction sets and the pycocotools
reference, handed to the tests as fixtures."""
import contextlib
import io
import json

import numpy as np
import pycocotools.mask as mask_util
import pytest

from mmaims.structures import LEVELS, encode_mask


def random_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A rectangle, or the union of two (non-convex shapes); small grids
    make equal IoUs (tie-breaking) frequent."""
    mask = np.zeros((h, w), dtype=bool)
    for _ in range(1 if rng.random() < 0.6 else 2):
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        y1, x1 = rng.integers(y0 + 1, h + 1), rng.integers(x0 + 1, w + 1)
        mask[y0:y1, x0:x1] = True
    return mask


def jitter(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """A prediction close to ``mask``: an exact copy, or shifted by up to
    one pixel, with a few pixels flipped."""
    if rng.random() < 0.3:
        return mask.copy()
    out = np.roll(mask, tuple(rng.integers(-1, 2, 2)), axis=(0, 1))
    for _ in range(int(rng.integers(0, 3))):
        y, x = rng.integers(0, mask.shape[0]), rng.integers(0, mask.shape[1])
        out[y, x] = not out[y, x]
    return out


def random_dataset(seed: int,
                   num_images: int = 12,
                   size=(12, 14),
                   levels_prob: float = 0.7,
                   sources=('default', ),
                   many_preds_image: bool = True):
    """Random hierarchical GT dict and prediction dict.

    Includes crowd GT, images without GT, images without predictions,
    images with neither, an image with > 100 predictions per level, tied
    scores, duplicated GT masks and GT links (entity_id / entity_ids).
    """
    rng = np.random.default_rng(seed)
    h, w = size
    images, anns, masks, links = [], [], [], []
    ann_id, mask_id = 1, 1
    for img_id in range(1, num_images + 1):
        levels = [lv for lv in LEVELS if rng.random() < levels_prob]
        images.append(
            dict(
                id=img_id,
                file_name=f'{img_id}.jpg',
                height=h,
                width=w,
                levels=levels,
                source=sources[img_id % len(sources)]))
        kind = img_id % 6  # 0: no GT, 1: no preds, 2: neither
        gt_masks = {}
        for level in LEVELS:
            num_gt = 0 if kind in (0, 2) else int(rng.integers(1, 9))
            level_masks = []
            for _ in range(num_gt):
                if level_masks and rng.random() < 0.1:
                    m = level_masks[int(rng.integers(len(level_masks)))]
                else:
                    m = random_mask(rng, h, w)
                level_masks.append(m)
                ann = dict(
                    id=ann_id,
                    image_id=img_id,
                    level=level,
                    category_id=1,
                    segmentation=encode_mask(m),
                    area=int(m.sum()),
                    bbox=[0., 0., 1., 1.],
                    iscrowd=int(rng.random() < 0.2))
                anns.append(ann)
                ann_id += 1
            gt_masks[level] = (level_masks,
                               [a for a in anns[len(anns) - num_gt:]])
        # GT links: parts to entities, relations to entity pairs.
        ent_anns = gt_masks['entity'][1]
        if ent_anns:
            for ann in gt_masks['part'][1]:
                if rng.random() < 0.8:
                    ann['entity_id'] = ent_anns[int(
                        rng.integers(len(ent_anns)))]['id']
            for ann in gt_masks['relation'][1]:
                if len(ent_anns) >= 2 and rng.random() < 0.8:
                    a, b = rng.choice(len(ent_anns), 2, replace=False)
                    ann['entity_ids'] = [ent_anns[a]['id'], ent_anns[b]['id']]
        if kind in (1, 2):
            continue
        pred_ids, pred_src = {}, {}
        for level in LEVELS:
            num_pred = int(rng.integers(2, 15))
            if many_preds_image and img_id == 3:
                num_pred = 130
            level_ids, level_src = [], []
            for _ in range(num_pred):
                src = gt_masks[level][0]
                src_idx = None
                if src and rng.random() < 0.75:
                    src_idx = int(rng.integers(len(src)))
                    m = jitter(rng, src[src_idx])
                else:
                    m = random_mask(rng, h, w)
                if rng.random() < 0.05:
                    m = np.zeros((h, w), dtype=bool)
                masks.append(
                    dict(
                        id=mask_id,
                        image_id=img_id,
                        level=level,
                        segmentation=encode_mask(m),
                        score=float(np.round(rng.random(), 1))))
                level_ids.append(mask_id)
                level_src.append(src_idx)
                mask_id += 1
            pred_ids[level] = level_ids
            pred_src[level] = level_src
        # Predicted links: between predictions derived from a GT pair
        # (likely recalls), plus random ones.
        ann_row = {
            a['id']: i
            for level in LEVELS
            for i, a in enumerate(gt_masks[level][1])
        }
        gt_pairs = {'entity-part': [], 'relation-entity': []}
        for a in gt_masks['part'][1]:
            if a.get('entity_id') is not None:
                gt_pairs['entity-part'].append(
                    (ann_row[a['entity_id']], ann_row[a['id']]))
        for a in gt_masks['relation'][1]:
            for e in a.get('entity_ids') or []:
                gt_pairs['relation-entity'].append(
                    (ann_row[a['id']], ann_row[e]))
        for link_type, parent, child in (('entity-part', 'entity', 'part'),
                                         ('relation-entity', 'relation',
                                          'entity')):
            if not pred_ids[parent] or not pred_ids[child]:
                continue
            candidates = [(p, c) for p, c in gt_pairs[link_type]
                          if p in pred_src[parent] and c in pred_src[child]]
            pairs = [(pred_ids[parent][pred_src[parent].index(p)],
                      pred_ids[child][pred_src[child].index(c)])
                     for p, c in candidates if rng.random() < 0.7]
            for _ in range(int(rng.integers(0, 25))):
                pairs.append((int(rng.choice(pred_ids[parent])),
                              int(rng.choice(pred_ids[child]))))
            for p, c in pairs:
                links.append(
                    dict(
                        image_id=img_id,
                        type=link_type,
                        parent_id=p,
                        child_id=c,
                        score=float(np.round(rng.random(), 1))))
    gt = dict(
        images=images,
        annotations=anns,
        categories=[dict(id=1, name='object')])
    return gt, dict(masks=masks, links=links)


def coco_eval(gt: dict,
              predictions: dict,
              level=None,
              image_ids=None,
              max_dets: int = 100):
    """pycocotools ``COCOeval(iouType='segm', useCats=0)`` of one level on
    the images that list it (optionally restricted to ``image_ids``); with
    ``level=None``, of all levels pooled, each image with the GT of the
    levels it lists.

    Returns:
        np.ndarray: ``stats`` (``maxDets=[1, 10, max_dets]``: ``stats[0:3]``
        the AP at ``max_dets``, ``stats[8]`` the AR at ``max_dets``).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    levels = {im['id']: im['levels'] for im in gt['images']}
    ids = {
        im['id']
        for im in gt['images']
        if (level in im['levels'] if level else im['levels']) and (
            image_ids is None or im['id'] in image_ids)
    }
    coco_gt = COCO()
    coco_gt.dataset = dict(
        images=[im for im in gt['images'] if im['id'] in ids],
        annotations=[
            dict(a, category_id=1) for a in gt['annotations']
            if a['image_id'] in ids and (
                a['level'] == level if level else a['level'] in levels[
                    a['image_id']])
        ],
        categories=[dict(id=1, name='object')])
    dets = [
        dict(
            image_id=m['image_id'],
            category_id=1,
            segmentation=m['segmentation'],
            score=m['score']) for m in predictions['masks']
        if (level is None or m['level'] == level) and m['image_id'] in ids
    ]
    assert dets, 'loadRes cannot take an empty result list'
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dets)
        coco_eval = COCOeval(coco_gt, coco_dt, iouType='segm')
        coco_eval.params.useCats = 0
        coco_eval.params.imgIds = sorted(ids)
        coco_eval.params.maxDets = [1, 10, max_dets]
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return coco_eval.stats


def coco_reference(gt: dict, predictions: dict, level: str, image_ids=None):
    """:func:`coco_eval` of one level at 100 masks per image.

    Returns:
        tuple[float, float, float]: stats[0:3] (mAP, mAP_50, mAP_75).
    """
    stats = coco_eval(gt, predictions, level, image_ids)
    return tuple(float(s) for s in stats[:3])


def write_json(path, obj) -> str:
    with open(path, 'w') as f:
        json.dump(obj, f)
    return str(path)


@pytest.fixture
def make_dataset():
    return random_dataset


@pytest.fixture
def cocoeval_reference():
    return coco_reference


@pytest.fixture
def cocoeval_stats():
    return coco_eval


@pytest.fixture
def dump_json():
    return write_json


@pytest.fixture
def rle_of():
    return encode_mask


@pytest.fixture
def decode():

    def _decode(rle):
        counts = rle['counts']
        if isinstance(counts, str):
            counts = counts.encode('ascii')
        return mask_util.decode(dict(size=rle['size'],
                                     counts=counts)).astype(bool)

    return _decode


def samples_from_predictions(gt: dict, predictions: dict, image_ids=None):
    """Predicted DetDataSamples (docs/data_sample.md section 2) holding the
    masks of a prediction dict as dense bool tensors, links as row
    indices."""
    import torch
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    from mmaims.structures import LINK_FIELDS, PRED_FIELDS, decode_rle
    samples = []
    for image in gt['images']:
        if image_ids is not None and image['id'] not in image_ids:
            continue
        h, w = image['height'], image['width']
        sample = DetDataSample(
            metainfo=dict(
                img_id=image['id'],
                ori_shape=(h, w),
                img_shape=(h, w),
                levels=image['levels'],
                source=image.get('source', 'default')))
        rows = {}
        for level, field in PRED_FIELDS.items():
            masks = [
                m for m in predictions['masks']
                if m['image_id'] == image['id'] and m['level'] == level
            ]
            rows.update({m['id']: i for i, m in enumerate(masks)})
            dense = np.zeros((len(masks), h, w), dtype=bool)
            for i, m in enumerate(masks):
                dense[i] = decode_rle(m['segmentation'])
            sample.set_field(
                InstanceData(
                    masks=torch.from_numpy(dense),
                    scores=torch.tensor([m['score'] for m in masks],
                                        dtype=torch.float32),
                    labels=torch.zeros(len(masks), dtype=torch.long),
                    bboxes=torch.zeros(len(masks), 4)), field)
        for link_type, field in LINK_FIELDS.items():
            links = [
                x for x in predictions.get('links', [])
                if x['image_id'] == image['id'] and x['type'] == link_type
            ]
            sample.set_field(
                InstanceData(
                    parent_index=torch.tensor(
                        [rows[x['parent_id']] for x in links],
                        dtype=torch.long),
                    child_index=torch.tensor(
                        [rows[x['child_id']] for x in links],
                        dtype=torch.long),
                    scores=torch.tensor([x['score'] for x in links],
                                        dtype=torch.float32)), field)
        samples.append(sample)
    return samples


@pytest.fixture
def make_samples():
    return samples_from_predictions
