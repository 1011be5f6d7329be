# Copyright (c) mmaims contributors. All rights reserved.
import pytest
import torch
import torch.nn.functional as F

from mmaims.models.layers import MaskPromptEncoder


def _count(module, cls):
    return sum(isinstance(m, cls) for m in module.modules())


def test_default_structure_and_shapes():
    # Table 4a row 2: (CONV2B x 2) + (CONV1)
    mpe = MaskPromptEncoder(out_channels=32)
    assert _count(mpe, torch.nn.Conv2d) == 3
    assert _count(mpe, torch.nn.LayerNorm) == 2
    assert [c.kernel_size for c in mpe.conv2s] == [(2, 2), (2, 2)]
    assert [c.stride for c in mpe.conv2s] == [(2, 2), (2, 2)]
    assert mpe.conv1s[0].kernel_size == (1, 1)
    prompt = torch.zeros(2, 1, 64, 96)
    prompt[:, :, 10:40, 20:70] = 1
    sizes = [(16, 24), (2, 3), (4, 6), (8, 12)]
    outs = mpe(prompt, sizes)
    assert [tuple(o.shape) for o in outs] == [(2, 32, h, w) for h, w in sizes]
    # M_2 is the encoder output itself, the others bilinear downscales of it
    m2 = mpe.encode(prompt)
    assert torch.equal(outs[0], m2)
    expected = F.interpolate(
        m2, size=(8, 12), mode='bilinear', align_corners=False)
    assert torch.allclose(outs[3], expected)


def test_layer_norm_is_over_channels():
    mpe = MaskPromptEncoder(out_channels=8, hidden_channels=(4, 6))
    x = torch.rand(1, 1, 16, 16)
    y = mpe.conv2s[0](x.gt(0.5).float())
    normed = mpe.norms[0](y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    # per pixel the 4 channels have zero mean and unit variance (LN affine
    # params start at identity)
    assert torch.allclose(normed.mean(1), torch.zeros(1, 8, 8), atol=1e-5)


@pytest.mark.parametrize('num_conv1,expected_convs', [(2, 4), (0, 2)])
def test_table_4a_variants(num_conv1, expected_convs):
    mpe = MaskPromptEncoder(out_channels=16, num_conv1=num_conv1)
    assert _count(mpe, torch.nn.Conv2d) == expected_convs
    out = mpe(torch.ones(1, 1, 32, 32), [(8, 8)])[0]
    assert out.shape == (1, 16, 8, 8)


def test_prompt_content_changes_the_encoding():
    mpe = MaskPromptEncoder(out_channels=8)
    full = torch.ones(1, 1, 32, 32)
    part = torch.zeros(1, 1, 32, 32)
    part[..., :16, :16] = 1
    a, b = mpe(full, [(8, 8)])[0], mpe(part, [(8, 8)])[0]
    assert not torch.allclose(a, b)
    # only the encoding of the region that changed differs (kernel 2 stride
    # 2 convs and 1x1 convs have a receptive field of one 4x4 cell)
    assert torch.allclose(a[..., :4, :4], b[..., :4, :4])
    assert not torch.allclose(a[..., 4:, 4:], b[..., 4:, 4:])


def test_gradients_reach_every_parameter():
    mpe = MaskPromptEncoder(out_channels=8)
    prompt = (torch.rand(2, 1, 32, 32) > 0.5).float()
    sum(o.sum()
        for o in mpe(prompt, [(8, 8), (1, 1), (2, 2), (4, 4)])).backward()
    for name, p in mpe.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bad_arguments():
    with pytest.raises(ValueError, match='at least one layer'):
        MaskPromptEncoder(out_channels=8, hidden_channels=(), num_conv1=0)
    with pytest.raises(ValueError, match='B, 1, H, W'):
        MaskPromptEncoder(out_channels=8)(torch.ones(32, 32), [(8, 8)])


def test_rough_flag_adds_a_learned_vector_to_rough_prompts_only():
    prompt = torch.zeros(3, 1, 32, 32)
    prompt[:, :, 4:20, 6:30] = 1
    sizes = [(8, 8), (2, 2)]
    plain = MaskPromptEncoder(out_channels=8)
    flagged = MaskPromptEncoder(out_channels=8, rough_flag=True)
    flagged.load_state_dict(plain.state_dict(), strict=False)
    assert not plain.with_rough_flag and flagged.with_rough_flag
    rough = torch.tensor([False, True, False])
    # zero at initialisation: the flag changes nothing before training
    for a, b in zip(plain(prompt, sizes), flagged(prompt, sizes, rough)):
        assert torch.equal(a, b)
    vector = torch.arange(8.) + 1
    with torch.no_grad():
        flagged.rough_embed.copy_(vector)
    outs = flagged(prompt, sizes, rough)
    for out, ref in zip(outs, plain(prompt, sizes)):
        assert torch.equal(out[[0, 2]], ref[[0, 2]])
        # bilinear resizing keeps a constant: every size gets the vector
        assert torch.allclose(out[1] - ref[1],
                              vector.view(8, 1, 1).expand_as(ref[1]))
    # the vector is learned
    flagged(prompt, sizes, rough)[0].sum().backward()
    assert flagged.rough_embed.grad.abs().sum() > 0
    # an encoder without it ignores the flags
    for a, b in zip(plain(prompt, sizes, rough), plain(prompt, sizes)):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match=r'shape \(2,\) for 3 prompts'):
        flagged(prompt, sizes, rough[:2])
