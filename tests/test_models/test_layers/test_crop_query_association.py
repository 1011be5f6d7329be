# Copyright (c) mmaims contributors. All rights reserved.
import pytest
import torch

from mmaims.models.layers import CropQueryAssociation
from mmaims.registry import MODELS

EMBED = 16


def _build(**kwargs):
    cfg = dict(
        type='CropQueryAssociation',
        embed_dims=EMBED,
        cross_attn_cfg=dict(num_heads=2),
        self_attn_cfg=dict(num_heads=2),
        ffn_cfg=dict(feedforward_channels=32))
    cfg.update(kwargs)
    module = MODELS.build(cfg)
    module.init_weights()
    return module


@pytest.mark.parametrize('crop_shape', [(2, 5, EMBED), (2, 3, 5, EMBED)])
def test_shapes_and_gradients_reach_both_views(crop_shape):
    module = _build()
    assert isinstance(module, CropQueryAssociation)
    g = torch.Generator().manual_seed(0)
    full = torch.randn(2, 5, EMBED, generator=g, requires_grad=True)
    crop = torch.randn(*crop_shape, generator=g, requires_grad=True)
    out = module(full, crop)
    assert out.shape == (2, 5, EMBED)
    out.pow(2).sum().backward()
    assert full.grad is not None and full.grad.abs().sum() > 0
    assert crop.grad is not None and crop.grad.abs().sum() > 0
    # every crop view is attended to
    if crop.dim() == 4:
        assert (crop.grad.abs().sum(dim=(0, 2, 3)) > 0).all()


def test_output_changes_with_the_crop_embeddings():
    module = _build().eval()
    g = torch.Generator().manual_seed(1)
    full = torch.randn(1, 4, EMBED, generator=g)
    crop = torch.randn(1, 4, EMBED, generator=g)
    out = module(full, crop)
    assert not torch.allclose(out, module(full, crop + 1.0))
    assert not torch.allclose(out, module(full + 1.0, crop))


def test_samples_are_independent():
    module = _build().eval()
    g = torch.Generator().manual_seed(2)
    full = torch.randn(2, 4, EMBED, generator=g)
    crop = torch.randn(2, 4, EMBED, generator=g)
    out = module(full, crop)
    crop2 = crop.clone()
    crop2[1] += 3.0
    out2 = module(full, crop2)
    torch.testing.assert_close(out[0], out2[0])
    assert not torch.allclose(out[1], out2[1])


def test_switches_of_table_9c():
    full = torch.randn(1, 3, EMBED)
    crop = torch.randn(1, 3, EMBED)
    only_cross = _build(self_attn_cfg=None, ffn_cfg=None).eval()
    assert only_cross.self_attn is None and only_cross.ffn is None
    # cross-attention then LayerNorm, written out with torch's attention
    mha = only_cross.cross_attn.attn  # torch's, sequence first
    memory = torch.cat([full, crop], dim=1).transpose(0, 1)
    attn, _ = mha(full.transpose(0, 1), memory, memory)
    attn = attn.transpose(0, 1)
    expected = only_cross.cross_norm(full + attn)
    torch.testing.assert_close(only_cross(full, crop), expected)
    with pytest.raises(ValueError, match='cannot be switched off'):
        _build(cross_attn_cfg=None)


def test_bad_shapes():
    module = _build()
    with pytest.raises(ValueError, match='full_embeds'):
        module(torch.randn(5, EMBED), torch.randn(1, 5, EMBED))
    with pytest.raises(ValueError, match='crop_embeds'):
        module(torch.randn(2, 5, EMBED), torch.randn(3, 5, EMBED))
