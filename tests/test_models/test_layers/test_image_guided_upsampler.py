# Copyright (c) mmaims contributors. All rights reserved.
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmaims.models.layers import ImageGuidedMaskUpsampler
from mmaims.registry import MODELS
from mmaims.utils import register_all_modules

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
register_all_modules()


@pytest.mark.parametrize('out_stride', [1, 2])
def test_output_at_the_finer_stride(out_stride):
    torch.manual_seed(0)
    up = ImageGuidedMaskUpsampler(channels=16, hidden_channels=8,
                                  out_stride=out_stride)
    out = up(torch.randn(2, 16, 8, 12), torch.randn(2, 3, 32, 48))
    assert out.shape == (2, 16, 32 // out_stride, 48 // out_stride)


def test_the_image_sharpens_what_bilinear_resizing_would_give():
    """The output is the bilinear resize of the mask features plus a
    correction that sees the image: without norm layers (whose statistics
    are global) a different image changes it near the change only."""
    torch.manual_seed(0)
    up = ImageGuidedMaskUpsampler(
        channels=8, hidden_channels=8, norm_cfg=None).eval()
    feats = torch.randn(1, 8, 8, 8)
    image = torch.randn(1, 3, 32, 32)
    changed = image.clone()
    changed[..., 2:4, 2:4] += 5  # top-left corner only
    with torch.no_grad():
        a, b = up(feats, image), up(feats, changed)
    diff = (a - b).abs().amax(dim=1)[0]
    assert diff[:4, :4].max() > 1e-3
    # receptive field of 3 stride-1 3x3 convs after a stride-2 one: the
    # output 8 px (at stride 2) away from the change does not move
    assert diff[8:, :].max() == 0 and diff[:, 8:].max() == 0
    # without the correction it is the bilinear resize
    with torch.no_grad():
        up.out_conv.weight.zero_()
        up.out_conv.bias.zero_()
        plain = up(feats, image)
    expected = torch.nn.functional.interpolate(
        feats, size=(16, 16), mode='bilinear', align_corners=False)
    assert torch.allclose(plain, expected)


def test_errors():
    with pytest.raises(ValueError, match='out_stride must be 1 or 2'):
        ImageGuidedMaskUpsampler(channels=8, out_stride=4)
    up = ImageGuidedMaskUpsampler(channels=8, hidden_channels=8)
    with pytest.raises(ValueError, match=r'expected mask features \(B, 8'):
        up(torch.randn(1, 4, 8, 8), torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match='images'):
        up(torch.randn(2, 8, 8, 8), torch.randn(1, 3, 32, 32))


def _tiny_aims_with_upsampler():
    cfg = Config.fromfile(
        osp.join(REPO, 'tests', 'data', 'configs', 'aims_tiny.py')).model
    cfg.mask_upsampler = dict(
        type='ImageGuidedMaskUpsampler', hidden_channels=8)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def test_aims_computes_every_mask_at_the_finer_stride():
    """AIMS with ``mask_upsampler``: the width is filled in from the pixel
    decoder, the features are at 1/2 of the input, training reaches the
    upsampler, and one-step and prompted inference work on them."""
    from tests.test_models.test_detectors.test_aims import (_eval_sample,
                                                            preprocess,
                                                            train_sample)
    model = _tiny_aims_with_upsampler()
    width = model.pixel_decoder.mask_feature.out_channels
    assert model.mask_upsampler.channels == width
    model.train()
    data = preprocess(model, [train_sample(img_id=1)], True)
    feats = model.extract_feat(data['inputs'])
    assert feats[0].shape == (1, width, 32, 32)  # 64 x 64 input
    losses = model(**data, mode='loss')
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.mask_upsampler.parameters())

    model.eval()
    data = preprocess(model, [_eval_sample()], False)
    with torch.no_grad():
        res = model(**data, mode='predict')[0]
        feats = model.extract_feat(data['inputs'])
        prompt = np.zeros((96, 128), bool)
        prompt[10:60, 20:80] = True
        parts = model.predict_prompt(feats, prompt, 'part',
                                     data['data_samples'])[0]
    assert feats[0].shape[-2:] == tuple(
        s // 2 for s in data['inputs'].shape[-2:])
    assert res.pred_part_instances.masks.shape[-2:] == (96, 128)
    masks = parts.pred_part_instances.masks
    assert len(masks) > 0 and masks.shape[-2:] == (96, 128)
    assert not (masks & ~torch.from_numpy(prompt)).any()  # hard clip
