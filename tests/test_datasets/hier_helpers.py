# Copyright (c) mmaims contributors. All rights reserved.
"""Builders of small hierarchical samples shared by the data-layer tests
(imported by name: pytest puts this folder on sys.path via conftest.py).

The toy scene (h=40, w=60)::

    E0 (ann 1) rows 0-19, cols 0-19   parts P0 (ann 11, left), P1 (ann 12)
    E1 (ann 2) rows 0-19, cols 20-39  part P2 (ann 13)      touches E0
    E2 (ann 3) rows 24-39, cols 44-59 part P3 (ann 14)
    E3 (ann 4) rows 30-39, cols 0-9   crowd entity
    P4 (ann 15) rows 0-4, cols 50-54  part without parent
    R0 (ann 21) = E0 u E1,  R1 (ann 22) = E1 u E2
"""
import os.path as osp

import numpy as np

from mmaims.structures import ENTITY, PART, RELATION, encode_mask

H, W = 40, 60
DATA_DIR = osp.join(osp.dirname(osp.dirname(__file__)), 'data', 'hier')


def _box(y1, y2, x1, x2):
    m = np.zeros((H, W), dtype=bool)
    m[y1:y2, x1:x2] = True
    return m


def toy_masks():
    e = {
        1: _box(0, 20, 0, 20),
        2: _box(0, 20, 20, 40),
        3: _box(24, 40, 44, 60),
        4: _box(30, 40, 0, 10),
    }
    p = {
        11: _box(0, 20, 0, 10),
        12: _box(0, 20, 10, 20),
        13: _box(5, 15, 25, 35),
        14: _box(24, 30, 44, 60),
        15: _box(0, 5, 50, 55),
    }
    r = {21: e[1] | e[2], 22: e[2] | e[3]}
    return e, p, r


#: part ann id -> parent entity ann id, relation ann id -> (subj, obj)
PART_PARENT = {11: 1, 12: 1, 13: 2, 14: 3, 15: None}
RELATION_PAIR = {21: (1, 2), 22: (2, 3)}


def _bbox(mask):
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1),
            float(ys.max() + 1)]


def toy_data_info(levels=(PART, ENTITY, RELATION), source='toy',
                  valid_region=None):
    e, p, r = toy_masks()
    instances = []
    for ann_id, m in e.items():
        instances.append(
            dict(level=ENTITY, mask=encode_mask(m), bbox=_bbox(m),
                 ignore_flag=int(ann_id == 4), ann_id=ann_id,
                 category_id=None))
    for ann_id, m in p.items():
        instances.append(
            dict(level=PART, mask=encode_mask(m), bbox=_bbox(m),
                 ignore_flag=0, ann_id=ann_id, category_id=None,
                 entity_id=PART_PARENT[ann_id]))
    for ann_id, m in r.items():
        instances.append(
            dict(level=RELATION, mask=encode_mask(m), bbox=_bbox(m),
                 ignore_flag=0, ann_id=ann_id, category_id=None,
                 entity_ids=list(RELATION_PAIR[ann_id])))
    return dict(
        img_id=7, img_path='toy.png', height=H, width=W,
        levels=list(levels), source=source,
        valid_region=encode_mask(valid_region)
        if valid_region is not None else None,
        instances=instances)


def load_toy(**kwargs):
    from mmaims.datasets.transforms import LoadHierarchicalAnnotations
    results = toy_data_info(**kwargs)
    img = np.zeros((H, W, 3), dtype=np.uint8)
    img[..., 0] = np.arange(W)[None]
    img[..., 1] = np.arange(H)[:, None]
    results.update(img=img, img_shape=(H, W), ori_shape=(H, W))
    return LoadHierarchicalAnnotations()(results)


def assert_links_consistent(results, check_masks=True):
    """Links point at the right instances (checked through ann ids), every
    surviving parent is still linked, and masks nest as they should."""
    from mmaims.datasets.transforms import check_links
    check_links(results)
    ent_ids = results['gt_ann_ids'].tolist()
    ent_masks = results['gt_masks'].masks.astype(bool)
    for row, (ann_id, e) in enumerate(
            zip(results['gt_part_ann_ids'].tolist(),
                results['gt_part_entity_index'].tolist())):
        parent = PART_PARENT[ann_id]
        if e >= 0:
            assert ent_ids[e] == parent, (ann_id, ent_ids[e], parent)
            if check_masks:
                part = results['gt_part_masks'].masks[row].astype(bool)
                assert not (part & ~ent_masks[e]).any()
        else:
            assert parent not in ent_ids, \
                f'part {ann_id} lost the link to present entity {parent}'
    for row, (ann_id, (s, o)) in enumerate(
            zip(results['gt_relation_ann_ids'].tolist(),
                results['gt_relation_entity_index'].tolist())):
        assert s >= 0 and o >= 0
        assert (ent_ids[s], ent_ids[o]) == RELATION_PAIR[ann_id]
        if check_masks:
            rel = results['gt_relation_masks'].masks[row].astype(bool)
            assert (rel == (ent_masks[s] | ent_masks[o])).all()
    for ann_id, pair in RELATION_PAIR.items():
        if set(pair) <= set(ent_ids):
            assert ann_id in results['gt_relation_ann_ids'].tolist(), \
                f'relation {ann_id} removed though both entities remain'
