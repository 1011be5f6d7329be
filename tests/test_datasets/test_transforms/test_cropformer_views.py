# Copyright (c) mmaims contributors. All rights reserved.
"""CropFormerViews: corner boxes, one size for all views, and the identity
of every entity across the full view and its crops.

The hand-made scene (h=40, w=60); with crop_ratio=0.5 the four crops are
the four 20 x 30 quadrants::

    A (ann 1) rows 0-9,   cols 0-9     top-left quadrant only
    B (ann 2) rows 15-34, cols 25-44   cut by every quadrant
    C (ann 3) rows 30-39, cols 0-9     bottom-left only, crowd
    D (ann 4) rows 0-19,  cols 50-59   top-right only
    part P (ann 11) of B, rows 15-24, cols 25-34
"""
import numpy as np
import pytest

from mmaims.datasets.transforms import (CROP_CORNERS, CropFormerViews,
                                        LoadHierarchicalAnnotations,
                                        PackAIMSInputs, corner_crop_box)
from mmaims.structures import ENTITY, PART, encode_mask

H, W = 40, 60
BOXES = {
    1: (0, 10, 0, 10),
    2: (15, 35, 25, 45),
    3: (30, 40, 0, 10),
    4: (0, 20, 50, 60)
}
ROWS = {ann: row for row, ann in enumerate(BOXES)}
# the quadrants and the entities (ann ids, in full-view order) they show
QUADRANTS = {
    'top_left': ((0, 0, 30, 20), [1, 2]),
    'top_right': ((30, 0, 60, 20), [2, 4]),
    'bottom_left': ((0, 20, 30, 40), [2, 3]),
    'bottom_right': ((30, 20, 60, 40), [2]),
}


def _mask(y0, y1, x0, x1):
    m = np.zeros((H, W), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def _results(with_annotations=True):
    yy, xx = np.mgrid[:H, :W]
    img = np.stack([yy * 5, xx * 4, (yy + xx) % 256], -1).astype(np.uint8)
    valid = np.ones((H, W), dtype=bool)
    valid[:, 55:] = False
    results = dict(
        img=img,
        img_id=5,
        img_path='scene.png',
        height=H,
        width=W,
        ori_shape=(H, W),
        img_shape=(H, W),
        levels=[PART, ENTITY],
        source='toy',
        valid_region=encode_mask(valid))
    if not with_annotations:
        results['valid_region'] = valid
        return results
    instances = []
    for ann, box in BOXES.items():
        m = _mask(*box)
        instances.append(
            dict(
                level=ENTITY,
                mask=encode_mask(m),
                bbox=[0, 0, 1, 1],
                ignore_flag=int(ann == 3),
                ann_id=ann))
    instances.append(
        dict(
            level=PART,
            mask=encode_mask(_mask(15, 25, 25, 35)),
            bbox=[0, 0, 1, 1],
            ignore_flag=0,
            ann_id=11,
            entity_id=2))
    results['instances'] = instances
    return LoadHierarchicalAnnotations(levels=(PART,
                                               ENTITY)).transform(results)


def _upsample2(a):
    return np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)


def test_corner_crop_boxes():
    # delta = 0.7 of 40 x 60: 28 x 42 windows touching their corner
    expected = {
        'top_left': [0, 0, 42, 28],
        'top_right': [18, 0, 60, 28],
        'bottom_left': [0, 12, 42, 40],
        'bottom_right': [18, 12, 60, 40],
    }
    for corner in CROP_CORNERS:
        box = corner_crop_box((H, W), corner, 0.7)
        assert box.dtype == np.int64
        assert box.tolist() == expected[corner], corner
    # floor(0.29 * 100) is 29, not 28 (0.29 * 100 = 28.999999999999996)
    assert corner_crop_box((100, 100), 'top_left', 0.29).tolist() == \
        [0, 0, 29, 29]
    assert corner_crop_box((H, W), 'bottom_right', 1.0).tolist() == \
        [0, 0, W, H]
    with pytest.raises(ValueError, match='unknown crop corner'):
        corner_crop_box((H, W), 'center', 0.7)
    with pytest.raises(ValueError, match='crop_ratio'):
        corner_crop_box((H, W), 'top_left', 0.0)
    with pytest.raises(ValueError, match='corners'):
        CropFormerViews(scale=(60, 40), corners=('top_left', 'middle'))


def test_test_mode_keeps_identity_in_every_corner():
    out = CropFormerViews(
        scale=(W, H), crop_ratio=0.5, test_mode=True,
        interpolation='nearest').transform(_results())
    # the full view: 40 x 60 unchanged, every entity and part kept
    assert out['img_shape'] == (H, W)
    assert out['gt_ann_ids'].tolist() == [1, 2, 3, 4]
    assert out['gt_part_ann_ids'].tolist() == [11]
    assert out['crop_corners'] == list(CROP_CORNERS)
    assert out['crop_boxes'].tolist() == [
        list(QUADRANTS[c][0]) for c in CROP_CORNERS
    ]
    full_masks = out['gt_masks'].masks.astype(bool)
    for corner, view in zip(CROP_CORNERS, out['crop_views']):
        (x0, y0, x1, y1), anns = QUADRANTS[corner]
        assert view['crop_corner'] == corner
        assert view['crop_box'].tolist() == [x0, y0, x1, y1]
        # both views at one size; the crop view remembers its window
        assert view['img'].shape == out['img'].shape
        assert view['img_shape'] == (H, W)
        assert view['ori_shape'] == (y1 - y0, x1 - x0)
        assert view['scale_factor'] == pytest.approx((2.0, 2.0))
        np.testing.assert_array_equal(view['img'],
                                      _upsample2(out['img'][y0:y1, x0:x1]))
        # identity: the same entities, in the full view's order, with their
        # annotation ids and crowd flags
        assert view['gt_ann_ids'].tolist() == anns
        rows = [ROWS[a] for a in anns]
        assert view['gt_full_index'].tolist() == rows
        assert view['gt_ann_ids'].tolist() == \
            out['gt_ann_ids'][view['gt_full_index']].tolist()
        assert view['gt_ignore_flags'].tolist() == [a == 3 for a in anns]
        expected_crop_index = [-1] * 4
        for crop_row, row in enumerate(rows):
            expected_crop_index[row] = crop_row
        assert view['gt_crop_index'].tolist() == expected_crop_index
        # an entity cut by the crop keeps its cropped mask
        masks = view['gt_masks'].masks.astype(bool)
        for crop_row, row in enumerate(rows):
            np.testing.assert_array_equal(
                masks[crop_row], _upsample2(full_masks[row, y0:y1, x0:x1]))
        # boxes come from the crop view's masks
        for crop_row, box in enumerate(view['gt_bboxes'].tensor.tolist()):
            ys, xs = np.nonzero(masks[crop_row])
            assert box == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        np.testing.assert_array_equal(
            view['valid_region'], _upsample2(out['valid_region'][y0:y1,
                                                                 x0:x1]))
        # entity level only; the metainfo follows the image
        assert not any(k.startswith('gt_part_') for k in view)
        assert view['levels'] == [ENTITY]
        assert (view['img_id'], view['source']) == (5, 'toy')
    # B is cut into four pieces that tile its full mask
    pieces = np.zeros((H, W), dtype=bool)
    for corner, view in zip(CROP_CORNERS, out['crop_views']):
        (x0, y0, x1, y1), anns = QUADRANTS[corner]
        row = anns.index(2)
        pieces[y0:y1, x0:x1] |= \
            view['gt_masks'].masks[row].astype(bool)[::2, ::2]
    np.testing.assert_array_equal(pieces, full_masks[ROWS[2]])


def test_training_draws_one_corner_per_sample():
    transform = CropFormerViews(scale=(W, H), crop_ratio=0.5)
    seen = set()
    np.random.seed(0)
    for _ in range(40):
        out = transform.transform(_results())
        assert len(out['crop_views']) == 1
        assert out['crop_boxes'].shape == (1, 4)
        corner = out['crop_corners'][0]
        view = out['crop_views'][0]
        assert view['crop_corner'] == corner
        assert out['crop_boxes'][0].tolist() == list(QUADRANTS[corner][0])
        assert view['gt_ann_ids'].tolist() == QUADRANTS[corner][1]
        seen.add(corner)
    assert seen == set(CROP_CORNERS)
    only = CropFormerViews(scale=(W, H), corners=('bottom_right', ))
    assert only.transform(_results())['crop_corners'] == ['bottom_right']


def test_views_resized_to_the_full_view_size():
    np.random.seed(1)
    transform = CropFormerViews(
        scale=[(120, 80), (180, 120)], crop_ratio=0.7, test_mode=True)
    sizes = set()
    for _ in range(12):
        out = transform.transform(_results())
        h, w = out['img_shape']
        sizes.add((h, w))
        assert out['gt_masks'].masks.shape == (4, h, w)
        assert out['gt_part_masks'].masks.shape == (1, h, w)
        for view in out['crop_views']:
            x0, y0, x1, y1 = view['crop_box'].tolist()
            assert view['img'].shape[:2] == (h, w)
            assert view['gt_masks'].masks.shape[1:] == (h, w)
            assert view['valid_region'].shape == (h, w)
            assert view['scale_factor'] == pytest.approx(
                (w / (x1 - x0), h / (y1 - y0)))
            # the homography maps the window of the received image onto the
            # whole view
            corners = np.array([[x0, y0, 1], [x1, y1, 1]], dtype=np.float32)
            mapped = corners @ view['homography_matrix'].T
            np.testing.assert_allclose(
                mapped[:, :2] / mapped[:, 2:], [[0, 0], [w, h]], atol=1e-4)
    # one scale of the list per sample (the same for all views)
    assert sizes == {(80, 120), (120, 180)}


def test_crop_view_and_full_view_pack():
    out = CropFormerViews(
        scale=(W, H), crop_ratio=0.5, test_mode=True).transform(_results())
    view = out['crop_views'][CROP_CORNERS.index('bottom_left')]
    packed = PackAIMSInputs().transform(view)
    sample = packed['data_samples']
    assert tuple(packed['inputs'].shape) == (3, H, W)
    # B is a target, the crowd C an ignore region
    assert sample.gt_instances.ann_ids.tolist() == [2]
    assert sample.ignored_instances.ann_ids.tolist() == [3]
    assert sample.metainfo['ori_shape'] == (20, 30)
    full = PackAIMSInputs().transform(out)['data_samples']
    assert full.gt_instances.ann_ids.tolist() == [1, 2, 4]
    assert full.gt_part_instances.entity_index.tolist() == [1]


def test_views_without_annotations():
    out = CropFormerViews(
        scale=(W, H), crop_ratio=0.7,
        test_mode=True).transform(_results(with_annotations=False))
    assert len(out['crop_views']) == 4
    for view in out['crop_views']:
        assert view['img'].shape == out['img'].shape
        assert 'gt_masks' not in view and 'gt_full_index' not in view
    with pytest.raises(KeyError, match='load the image first'):
        CropFormerViews(scale=(W, H)).transform(dict(img_id=3))
