# Copyright (c) mmaims contributors. All rights reserved.
"""PackCropFormerInputs on the hand-made scene of test_cropformer_views.py
(entities A=1, B=2, C=3 (crowd), D=4; crop_ratio 0.5: the quadrants)."""
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from test_cropformer_views import H, W, _results

from mmaims.datasets.transforms import (CROP_CORNERS, CropFormerViews,
                                        PackCropFormerInputs)
from mmaims.models import CropFormerDataPreprocessor

# per quadrant: for each full-view target (A, B, D), its crop target row
TARGET_INDEX = {
    'top_left': [0, 1, -1],  # targets A, B
    'top_right': [-1, 0, 1],  # targets B, D
    'bottom_left': [-1, 0, -1],  # target B (C is crowd: ignored)
    'bottom_right': [-1, 0, -1],  # target B
}


def _packed(task=None):
    out = CropFormerViews(
        scale=(W, H), crop_ratio=0.5, test_mode=True).transform(_results())
    if task is not None:
        out['task'] = task
    return PackCropFormerInputs().transform(out)


def test_pack_maps_targets_across_views():
    task = dict(
        sample_type=1,
        prompt_type='full',
        decoder='entity',
        supervision=dict(entity=dict(level='entity', exhaustive=True)))
    packed = _packed(task)
    sample = packed['data_samples']
    assert tuple(packed['inputs'].shape) == (3, H, W)
    assert sample.gt_instances.ann_ids.tolist() == [1, 2, 4]
    assert sample.metainfo['crop_corners'] == list(CROP_CORNERS)
    assert sample.metainfo['crop_boxes'].shape == (4, 4)
    assert len(sample.crop_inputs) == len(sample.crop_samples) == 4
    full_ids = sample.gt_instances.ann_ids.tolist()
    for corner, crop_input, crop in zip(CROP_CORNERS, sample.crop_inputs,
                                        sample.crop_samples):
        assert tuple(crop_input.shape) == (3, H, W)
        index = crop.metainfo['gt_crop_index'].tolist()
        assert index == TARGET_INDEX[corner], corner
        crop_ids = crop.gt_instances.ann_ids.tolist()
        for full_row, crop_row in enumerate(index):
            if crop_row >= 0:
                assert crop_ids[crop_row] == full_ids[full_row]
        # the crop is supervised as the full view
        assert crop.metainfo['task'] == sample.metainfo['task'] == task


def test_pack_needs_the_views_and_intact_rows():
    with pytest.raises(KeyError, match='CropFormerViews'):
        PackCropFormerInputs().transform(_results())
    out = CropFormerViews(
        scale=(W, H), crop_ratio=0.5, test_mode=True).transform(_results())
    out['crop_views'][0]['gt_crop_index'] = np.zeros(2, dtype=np.int64)
    with pytest.raises(KeyError, match='after CropFormerViews'):
        PackCropFormerInputs().transform(out)


def test_data_preprocessor_batches_all_views():
    preprocessor = CropFormerDataPreprocessor(
        mean=[0., 0., 0.],
        std=[1., 1., 1.],
        pad_size_divisor=32,
        pad_mask=True)
    data = preprocessor(pseudo_collate([_packed(), _packed()]), training=True)
    # 2 samples x (full + 4 crops), sample by sample
    assert tuple(data['inputs'].shape) == (10, 3, 64, 64)
    samples = data['data_samples']
    assert len(samples) == 2
    for i, sample in enumerate(samples):
        assert 'crop_inputs' not in sample
        assert len(sample.crop_samples) == 4
        torch.testing.assert_close(data['inputs'][5 * i, :, :H, :W],
                                   _packed()['inputs'].float())
        for crop in sample.crop_samples:
            assert crop.batch_input_shape == (64, 64)
            assert crop.gt_instances.masks.masks.shape[1:] == (64, 64)
    # a batch mixing samples with and without crops is refused
    plain = _packed()
    del plain['data_samples'].crop_inputs
    with pytest.raises(ValueError, match='no crop views'):
        preprocessor(pseudo_collate([_packed(), plain]), training=True)
