# Copyright (c) mmaims contributors. All rights reserved.
import numpy as np
import pytest
from hier_helpers import H, W, assert_links_consistent
from mmcv.transforms import RandomChoiceResize

from mmaims.datasets.transforms import (FilterHierarchicalAnnotations,
                                        HierarchicalRandomCrop,
                                        HierarchicalRandomFlip,
                                        HierarchicalResize, SampleTaskPrompt,
                                        mask_areas)
from mmaims.structures import ENTITY, PART, RELATION


def _half_region():
    region = np.zeros((H, W), dtype=bool)
    region[:, :W // 2] = True
    return region


def _check_maps(results):
    shape = results['img'].shape[:2]
    assert tuple(results['img_shape']) == shape
    for key in ('gt_masks', 'gt_part_masks', 'gt_relation_masks'):
        assert results[key].masks.shape[1:] == shape, key
    assert results['valid_region'].shape == shape
    assert results['valid_region'].dtype == bool
    if 'prompt_mask' in results:
        assert results['prompt_mask'].shape == shape
        assert results['prompt_mask'].dtype == np.uint8


def _check_boxes_match_masks(results, tol=1.0):
    for prefix in ('gt_', 'gt_part_', 'gt_relation_'):
        masks = results[f'{prefix}masks']
        boxes = results[f'{prefix}bboxes'].tensor.numpy()
        expected = masks.get_bboxes('hbox').tensor.numpy()
        assert np.abs(boxes - expected).max(initial=0) <= tol, prefix


@pytest.mark.parametrize('scale,keep_ratio', [((90, 60), True),
                                              ((30, 20), True),
                                              ((50, 50), False)])
def test_resize_all_levels(toy_results, scale, keep_ratio):
    results = toy_results(valid_region=_half_region())
    results['prompt_mask'] = _half_region().astype(np.uint8)
    out = HierarchicalResize(scale=scale, keep_ratio=keep_ratio)(results)
    _check_maps(out)
    h, w = out['img_shape']
    if keep_ratio:
        assert (w, h) == scale
    assert_links_consistent(out)
    _check_boxes_match_masks(out, tol=1.5)
    # the valid region still covers the left half
    assert out['valid_region'][:, :w // 2 - 1].all()
    assert not out['valid_region'][:, w // 2 + 1:].any()
    assert (out['prompt_mask'] == out['valid_region']).all()


def test_multiscale_resize_via_random_choice(toy_results):
    from mmaims.utils import register_all_modules
    register_all_modules()
    scales = [(1333, s) for s in range(640, 801, 32)]
    transform = RandomChoiceResize(
        scales=scales, resize_type='HierarchicalResize', keep_ratio=True)
    out = transform(toy_results())
    short, long = sorted(out['img_shape'])
    assert short in range(640, 801, 32) and long <= 1333
    _check_maps(out)
    assert_links_consistent(out)


@pytest.mark.parametrize('direction',
                         ['horizontal', 'vertical', 'diagonal'])
def test_flip_all_levels(toy_results, direction):
    results = toy_results(valid_region=_half_region())
    before = {
        k: results[k].masks.copy()
        for k in ('gt_masks', 'gt_part_masks', 'gt_relation_masks')
    }
    out = HierarchicalRandomFlip(prob=1.0, direction=direction)(results)
    assert out['flip'] and out['flip_direction'] == direction
    axes = dict(horizontal=(2, ), vertical=(1, ), diagonal=(1, 2))[direction]
    for key, masks in before.items():
        assert (out[key].masks == np.flip(masks, axes)).all(), key
    flipped_region = np.flip(_half_region(), tuple(a - 1 for a in axes))
    assert (out['valid_region'] == flipped_region).all()
    _check_maps(out)
    assert_links_consistent(out)
    _check_boxes_match_masks(out)


def test_crop_removes_instances_with_their_links(toy_results):
    results = toy_results()
    # window rows 0-19, cols 10-29: keeps E0 (partly), E1; removes E2, E3
    crop = HierarchicalRandomCrop(crop_size=(20, 20))
    crop._rand_offset = lambda margin: (0, 10)
    out = crop(results)
    _check_maps(out)
    assert out['img'].shape[:2] == (20, 20)
    assert out['gt_ann_ids'].tolist() == [1, 2]
    # P0 (left half of E0) is cut away; P3 lost with E2; P4 outside
    assert out['gt_part_ann_ids'].tolist() == [12, 13]
    assert out['gt_part_entity_index'].tolist() == [0, 1]
    # R1 lost its object E2
    assert out['gt_relation_ann_ids'].tolist() == [21]
    assert out['gt_relation_entity_index'].tolist() == [[0, 1]]
    assert_links_consistent(out)
    _check_boxes_match_masks(out, tol=0)
    assert (mask_areas(out, ENTITY) > 0).all()


def test_filter_entities_unlinks_parts_and_drops_relations(toy_results):
    results = toy_results()
    out = FilterHierarchicalAnnotations(
        min_gt_mask_area=200, levels=(ENTITY, ))(results)
    # only the crowd entity E3 (100 px) is below 200 px
    assert out['gt_ann_ids'].tolist() == [1, 2, 3]
    out = FilterHierarchicalAnnotations(
        min_gt_mask_area=300, levels=(ENTITY, ))(out)
    assert out['gt_ann_ids'].tolist() == [1, 2]
    assert out['gt_part_ann_ids'].tolist() == [11, 12, 13, 14, 15]
    assert out['gt_part_entity_index'].tolist() == [0, 0, 1, -1, -1]
    assert out['gt_relation_ann_ids'].tolist() == [21]
    assert_links_consistent(out)


def test_random_crops_stay_consistent(toy_results):
    np.random.seed(0)
    crop = HierarchicalRandomCrop(crop_size=(17, 23), allow_negative_crop=True)
    flip = HierarchicalRandomFlip(prob=0.5)
    prompt = SampleTaskPrompt()
    for i in range(30):
        results = toy_results(valid_region=_half_region())
        results['sample_type'] = 1 + i % 8
        out = crop(flip(results))
        _check_maps(out)
        assert_links_consistent(out)
        _check_boxes_match_masks(out, tol=0)
        for level in (ENTITY, PART, RELATION):
            assert (mask_areas(out, level) > 0).all()
        out = prompt(out)
        if out is not None:
            _check_maps(out)
            assert_links_consistent(out)


def test_negative_crop(toy_results):
    crop = HierarchicalRandomCrop(crop_size=(4, 4))
    crop._rand_offset = lambda margin: (21, 20)  # empty background
    assert crop(toy_results()) is None
    crop = HierarchicalRandomCrop(crop_size=(4, 4), allow_negative_crop=True)
    crop._rand_offset = lambda margin: (21, 20)
    out = crop(toy_results())
    assert len(out['gt_masks']) == 0 and len(out['gt_relation_masks']) == 0
    assert out['gt_relation_entity_index'].shape == (0, 2)


def test_filter_by_box_and_mask(toy_results):
    out = FilterHierarchicalAnnotations(
        min_gt_bbox_wh=(5, 5), by_box=True, by_mask=False,
        levels=(PART, ))(toy_results())
    # P4 is 5x5 (not > 5) and removed; P2 (10x10) kept
    assert out['gt_part_ann_ids'].tolist() == [11, 12, 13, 14]
    assert_links_consistent(out)
    out = FilterHierarchicalAnnotations(min_gt_mask_area=10**6)(toy_results())
    assert all(len(out[k]) == 0 for k in ('gt_masks', 'gt_part_masks',
                                          'gt_relation_masks'))
    assert FilterHierarchicalAnnotations(
        min_gt_mask_area=10**6, keep_empty=True)(toy_results()) is None
    with pytest.raises(ValueError):
        FilterHierarchicalAnnotations(by_box=False, by_mask=False)
