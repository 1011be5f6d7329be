# Copyright (c) mmaims contributors. All rights reserved.
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData, PixelData

from mmaims.models.data_preprocessors import AIMSDataPreprocessor
from mmaims.structures.fields import INSTANCE_FIELDS


def _sample(h, w, with_prompt=True, img_id=1):
    sample = DetDataSample(
        metainfo=dict(img_id=img_id, img_shape=(h, w), ori_shape=(h, w)))
    for i, field in enumerate(INSTANCE_FIELDS):
        masks = np.zeros((2, h, w), dtype=np.uint8)
        masks[:, :i + 1, :i + 1] = 1
        sample.set_field(
            InstanceData(
                masks=BitmapMasks(masks, h, w),
                bboxes=torch.zeros(2, 4),
                labels=torch.zeros(2, dtype=torch.long)), field)
    if with_prompt:
        prompt = torch.zeros(1, h, w, dtype=torch.uint8)
        prompt[:, :5, :5] = 1
        sample.prompt_mask = PixelData(data=prompt)
        valid = torch.zeros(1, h, w, dtype=torch.bool)
        valid[:, 2:, :] = True
        sample.valid_region = PixelData(data=valid)
    return sample


def _data():
    inputs = [
        torch.randint(0, 255, (3, 20, 30), dtype=torch.uint8),
        torch.randint(0, 255, (3, 33, 17), dtype=torch.uint8)
    ]
    return dict(
        inputs=inputs,
        data_samples=[
            _sample(20, 30, img_id=1),
            _sample(33, 17, with_prompt=False, img_id=2)
        ])


def test_pads_every_mask_field_in_training():
    pre = AIMSDataPreprocessor(pad_size_divisor=32, pad_mask=True)
    out = pre(_data(), training=True)
    assert out['inputs'].shape == (2, 3, 64, 32)
    for sample in out['data_samples']:
        assert sample.batch_input_shape == (64, 32)
        for field in INSTANCE_FIELDS:
            masks = sample.get(field).masks
            assert (masks.height, masks.width) == (64, 32), field
        assert sample.prompt_mask.data.shape == (1, 64, 32)
        assert sample.prompt_mask.data.dtype == torch.uint8
        assert sample.valid_region.data.shape == (1, 64, 32)
        assert sample.valid_region.data.dtype == torch.bool
    first, second = out['data_samples']
    # the content is kept at the top-left, the padding is 0 / False
    assert first.prompt_mask.data[0, :5, :5].all()
    assert first.prompt_mask.data.sum() == 25
    assert first.valid_region.data[0, 2:20, :30].all()
    assert first.valid_region.data.sum() == 18 * 30
    masks = first.gt_part_instances.masks.masks
    assert masks[:, :2, :2].all() and masks.sum() == 2 * 4


def test_loss_region_is_padded_when_present():
    pre = AIMSDataPreprocessor(pad_size_divisor=32, pad_mask=True)
    data = _data()
    region = torch.zeros(1, 20, 30, dtype=torch.bool)
    region[:, :7, :9] = True
    data['data_samples'][0].loss_region = PixelData(data=region)
    first, second = pre(data, training=True)['data_samples']
    assert first.loss_region.data.shape == (1, 64, 32)
    assert first.loss_region.data.dtype == torch.bool
    assert first.loss_region.data[0, :7, :9].all()
    assert first.loss_region.data.sum() == 7 * 9
    assert 'loss_region' not in second


def test_full_image_prompt_when_missing():
    pre = AIMSDataPreprocessor(pad_size_divisor=32)
    out = pre(_data(), training=False)
    second = out['data_samples'][1]
    prompt = second.prompt_mask.data[0]
    assert prompt[:33, :17].all()
    assert prompt.sum() == 33 * 17
    assert second.valid_region.data[0, :33, :17].all()
    assert second.valid_region.data.sum() == 33 * 17
    # without training the instance masks are left as they are (mmdet)
    assert second.gt_instances.masks.height == 33


def test_mask_larger_than_batch_is_reported():
    pre = AIMSDataPreprocessor(pad_size_divisor=1)
    data = _data()
    data['data_samples'][0].prompt_mask = PixelData(
        data=torch.ones(1, 40, 30, dtype=torch.uint8))
    with pytest.raises(ValueError, match='image 1: prompt_mask'):
        pre(data, training=False)
