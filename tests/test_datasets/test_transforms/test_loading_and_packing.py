# Copyright (c) mmaims contributors. All rights reserved.
import numpy as np
import pytest
import torch
from hier_helpers import H, W, assert_links_consistent, toy_masks
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData, PixelData

from mmaims.datasets.transforms import (LoadHierarchicalAnnotations,
                                        PackAIMSInputs, SampleTaskPrompt)
from mmaims.structures import ENTITY, PART


def test_load_all_levels(toy_results):
    results = toy_results()
    e, p, r = toy_masks()
    assert isinstance(results['gt_masks'], BitmapMasks)
    assert isinstance(results['gt_bboxes'], HorizontalBoxes)
    assert results['gt_ann_ids'].tolist() == [1, 2, 3, 4]
    assert results['gt_ignore_flags'].tolist() == [False] * 3 + [True]
    assert results['gt_bboxes_labels'].tolist() == [0, 0, 0, 0]
    assert (results['gt_masks'].masks[1].astype(bool) == e[2]).all()
    assert results['gt_bboxes'].tensor[0].tolist() == [0, 0, 20, 20]
    assert results['gt_part_ann_ids'].tolist() == [11, 12, 13, 14, 15]
    assert results['gt_part_entity_index'].tolist() == [0, 0, 1, 2, -1]
    assert results['gt_relation_entity_index'].tolist() == [[0, 1], [1, 2]]
    assert (results['gt_relation_masks'].masks[0].astype(bool) == r[21]).all()
    assert results['valid_region'].dtype == bool
    assert results['valid_region'].all()
    assert_links_consistent(results)


def test_image_of_another_size_than_its_record_is_an_error(toy_info):
    info = toy_info()
    info.update(img_id=7, img_path='x/7.png')
    info['img'] = np.zeros((H + 2, W, 3), np.uint8)
    with pytest.raises(ValueError, match=r'image id 7 \(x/7.png\): the image '
                       rf'file is {H + 2} x {W} \(h x w\) but its record says '
                       rf'{H} x {W}'):
        LoadHierarchicalAnnotations()(info)
    info['img'] = np.zeros((H, W, 3), np.uint8)
    assert LoadHierarchicalAnnotations()(info)['gt_masks'].height == H


def test_load_valid_region_and_subset_of_levels(toy_info):
    region = np.zeros((H, W), dtype=bool)
    region[:, :30] = True
    info = toy_info(valid_region=region)
    out = LoadHierarchicalAnnotations()(dict(info))
    assert (out['valid_region'] == region).all()
    # without the entity level, links become -1 and relations need
    # their entities, so they are dropped
    out = LoadHierarchicalAnnotations(levels=(PART, 'relation'))(
        toy_info())
    assert 'gt_masks' not in out
    assert out['gt_part_entity_index'].tolist() == [-1] * 5
    assert len(out['gt_relation_masks']) == 0
    out = LoadHierarchicalAnnotations(levels=(ENTITY, ))(toy_info())
    assert 'gt_part_masks' not in out


def _pack(results):
    return PackAIMSInputs()(results)


def test_pack_matches_the_contract(toy_results):
    results = SampleTaskPrompt()(toy_results())
    out = _pack(results)
    assert out['inputs'].shape == (3, H, W)
    assert out['inputs'].dtype == torch.uint8
    sample = out['data_samples']
    assert isinstance(sample, DetDataSample)
    for field in ('gt_instances', 'gt_part_instances',
                  'gt_relation_instances', 'ignored_instances',
                  'ignored_part_instances', 'ignored_relation_instances'):
        inst = getattr(sample, field)
        assert isinstance(inst, InstanceData), field
        assert isinstance(inst.masks, BitmapMasks)
        assert inst.masks.masks.shape[1:] == (H, W)
        assert inst.bboxes.dtype == torch.float32
        assert inst.bboxes.shape == (len(inst.masks), 4)
        assert inst.labels.dtype == torch.int64
        assert (inst.labels == 0).all()
        assert inst.ann_ids.dtype == torch.int64
    gt = sample.gt_instances
    assert gt.ann_ids.tolist() == [1, 2, 3]
    assert sample.ignored_instances.ann_ids.tolist() == [4]
    parts = sample.gt_part_instances
    assert parts.ann_ids.tolist() == [11, 12, 13, 14, 15]
    assert parts.entity_index.dtype == torch.int64
    assert parts.entity_index.tolist() == [0, 0, 1, 2, -1]
    rels = sample.gt_relation_instances
    assert rels.entity_index.shape == (2, 2)
    assert rels.entity_index.tolist() == [[0, 1], [1, 2]]
    assert isinstance(sample.prompt_mask, PixelData)
    assert sample.prompt_mask.data.dtype == torch.uint8
    assert sample.prompt_mask.data.shape == (1, H, W)
    assert sample.valid_region.data.dtype == torch.bool
    assert sample.valid_region.data.shape == (1, H, W)
    meta = sample.metainfo
    assert meta['levels'] == ['part', 'entity', 'relation']
    assert meta['source'] == 'toy'
    assert meta['img_id'] == 7
    assert meta['task']['sample_type'] == 0
    assert set(meta['task']['supervision']) == {'part', 'entity', 'relation'}


def test_pack_remaps_links_around_crowd_entities(toy_results):
    results = toy_results()
    # make entity 2 (row 1) a crowd region: its part and relations lose it
    results['gt_ignore_flags'][1] = True
    sample = _pack(results)['data_samples']
    assert sample.gt_instances.ann_ids.tolist() == [1, 3]
    assert sample.ignored_instances.ann_ids.tolist() == [2, 4]
    assert sample.gt_part_instances.entity_index.tolist() == [0, 0, -1, 1, -1]
    assert sample.gt_relation_instances.entity_index.tolist() == [[0, -1],
                                                                  [-1, 1]]


def test_pack_without_annotations():
    img = np.zeros((10, 12, 3), dtype=np.uint8)
    out = PackAIMSInputs()(dict(img=img, img_id=3))
    sample = out['data_samples']
    assert sample.img_shape == (10, 12) and sample.ori_shape == (10, 12)
    assert sample.scale_factor == (1.0, 1.0) and sample.flip is False
    assert 'gt_instances' not in sample
    assert sample.prompt_mask.data.all()
    assert sample.valid_region.data.all()
    assert sample.task['sample_type'] == 0
    assert sample.levels == [] and sample.source == 'default'


def test_pack_gray_and_noncontiguous_images():
    img = np.zeros((6, 5), dtype=np.uint8)
    assert PackAIMSInputs()(dict(img=img))['inputs'].shape == (1, 6, 5)
    img = np.zeros((5, 6, 3), dtype=np.uint8).transpose(1, 0, 2)
    assert PackAIMSInputs()(dict(img=img))['inputs'].shape == (3, 6, 5)
