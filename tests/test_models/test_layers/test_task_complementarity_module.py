# Copyright (c) mmaims contributors. All rights reserved.
import pytest
import torch

from mmaims.models.layers import TaskComplementarityModule
from mmaims.registry import MODELS

EMBED = 16


def _build(**kwargs):
    cfg = dict(
        type='TaskComplementarityModule',
        embed_dims=EMBED,
        self_attn_cfg=dict(num_heads=2),
        ffn_cfg=dict(feedforward_channels=32))
    cfg.update(kwargs)
    tcm = MODELS.build(cfg)
    tcm.init_weights()
    return tcm.eval()


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(2, 3, EMBED,
                        generator=g), torch.randn(2, 5, EMBED, generator=g),
            torch.randn(2, 3, EMBED,
                        generator=g), torch.randn(2, 5, EMBED, generator=g))


def _manual(tcm, qa, qb, pa, pb):
    """Eq. 5-6 written out by hand with torch's own attention and the
    module's weights: G_SA(x) = LN(Attn(x + pos, x + pos, x)),
    G_ff(x) = LN(W2 relu(W1 x)), no residual inside either; the ADD of
    eq. 6 is the only identity path."""
    x = torch.cat([qa, qb], dim=1)
    if tcm.with_self_attn:
        pos = torch.cat([pa, pb], dim=1)
        mha = tcm.self_attn.attn
        attn = torch.nn.functional.multi_head_attention_forward(
            (x + pos).transpose(0, 1), (x + pos).transpose(0, 1),
            x.transpose(0, 1), mha.embed_dim, mha.num_heads,
            mha.in_proj_weight, mha.in_proj_bias, None, None, False, 0.0,
            mha.out_proj.weight, mha.out_proj.bias, training=False)[0]
        x = torch.nn.functional.layer_norm(
            attn.transpose(0, 1), (EMBED, ), tcm.self_attn_norm.weight,
            tcm.self_attn_norm.bias)
    if tcm.with_ffn:
        fc1, fc2 = tcm.ffn.layers[0][0], tcm.ffn.layers[1]
        hidden = torch.relu(x @ fc1.weight.T + fc1.bias)
        x = torch.nn.functional.layer_norm(hidden @ fc2.weight.T + fc2.bias,
                                           (EMBED, ), tcm.ffn_norm.weight,
                                           tcm.ffn_norm.bias)
    a, b = x[:, :qa.shape[1]], x[:, qa.shape[1]:]
    if tcm.with_add:
        a, b = a + qa, b + qb
    return a, b


@pytest.mark.parametrize('sa,ff,add',
                         [(True, False, False), (True, True, False),
                          (True, True, True), (False, True, True),
                          (True, False, True)])
def test_switches_follow_equations(sa, ff, add):
    tcm = _build(with_self_attn=sa, with_ffn=ff, with_add=add)
    assert hasattr(tcm, 'self_attn') == sa
    assert hasattr(tcm, 'ffn') == ff
    qa, qb, pa, pb = _inputs()
    with torch.no_grad():
        out_a, out_b = tcm(qa, qb, pa, pb)
        exp_a, exp_b = _manual(tcm, qa, qb, pa, pb)
    assert out_a.shape == qa.shape and out_b.shape == qb.shape
    torch.testing.assert_close(out_a, exp_a)
    torch.testing.assert_close(out_b, exp_b)


def test_add_adds_exactly_the_original_embeddings():
    with_add = _build(with_add=True)
    without_add = _build(with_add=False)
    without_add.load_state_dict(with_add.state_dict())
    qa, qb, pa, pb = _inputs(1)
    with torch.no_grad():
        a1, b1 = with_add(qa, qb, pa, pb)
        a0, b0 = without_add(qa, qb, pa, pb)
    torch.testing.assert_close(a1 - a0, qa)
    torch.testing.assert_close(b1 - b0, qb)


def test_without_add_no_identity_path_remains():
    """Table 4b row 3 (SA + FF, no ADD): the output is G_ff(G_SA(E)); with
    the attention's value/output projection and the FFN's last layer set
    to zero nothing of E reaches the output (a hidden residual would pass
    E through unchanged)."""
    tcm = _build(with_add=False)
    with torch.no_grad():
        tcm.self_attn.attn.out_proj.weight.zero_()
        tcm.self_attn.attn.out_proj.bias.zero_()
        tcm.ffn.layers[1].weight.zero_()
        tcm.ffn.layers[1].bias.zero_()
        qa, qb, pa, pb = _inputs(6)
        out_a, out_b = tcm(qa, qb, pa, pb)
    # LayerNorm of a zero vector is its bias (zero at init)
    torch.testing.assert_close(out_a, torch.zeros_like(qa))
    torch.testing.assert_close(out_b, torch.zeros_like(qb))


def test_ffn_may_not_bring_its_own_residual():
    with pytest.raises(ValueError, match='with_add'):
        _build(ffn_cfg=dict(feedforward_channels=32, add_identity=True))


def test_ffn_switch_changes_output():
    full = _build()
    no_ffn = _build(with_ffn=False)
    state = {
        k: v
        for k, v in full.state_dict().items() if not k.startswith('ffn')
    }
    no_ffn.load_state_dict(state)
    qa, qb, pa, pb = _inputs(2)
    with torch.no_grad():
        assert not torch.allclose(
            full(qa, qb, pa, pb)[0],
            no_ffn(qa, qb, pa, pb)[0])


def test_self_attention_is_what_mixes_the_levels():
    qa, qb, pa, pb = _inputs(3)
    qb2 = qb + torch.randn_like(qb)
    with torch.no_grad():
        # with self-attention, the second level changes the first one
        tcm = _build()
        assert not torch.allclose(
            tcm(qa, qb, pa, pb)[0],
            tcm(qa, qb2, pa, pb)[0])
        # the FFN alone works query by query: no exchange between levels
        ffn_only = _build(with_self_attn=False)
        torch.testing.assert_close(
            ffn_only(qa, qb, pa, pb)[0],
            ffn_only(qa, qb2, pa, pb)[0])


def test_gradients_reach_both_inputs():
    tcm = _build().train()
    qa, qb, pa, pb = (t.requires_grad_() for t in _inputs(4))
    out_a, out_b = tcm(qa, qb, pa, pb)
    # a plain sum of LayerNorm outputs is constant: weight it
    g = torch.Generator().manual_seed(9)
    (out_a * torch.randn(out_a.shape, generator=g)).sum().backward()
    assert qa.grad.abs().sum() > 0
    assert qb.grad.abs().sum() > 0  # through the concatenated attention
    assert all(p.grad is not None for p in tcm.parameters())


def test_without_query_pos():
    tcm = _build()
    qa, qb, _, _ = _inputs(5)
    out_a, out_b = tcm(qa, qb)
    assert out_a.shape == qa.shape and out_b.shape == qb.shape


def test_bad_configs_and_inputs():
    with pytest.raises(ValueError, match='tcm=None'):
        _build(with_self_attn=False, with_ffn=False)
    with pytest.raises(ValueError, match='embed_dims'):
        _build(self_attn_cfg=dict(embed_dims=8, num_heads=2))
    with pytest.raises(ValueError, match='batch_first'):
        _build(self_attn_cfg=dict(num_heads=2, batch_first=False))
    tcm = _build()
    qa, qb, pa, pb = _inputs()
    with pytest.raises(ValueError, match='same B'):
        tcm(qa, qb[:1])
    with pytest.raises(ValueError, match='together'):
        tcm(qa, qb, pa, None)
    assert isinstance(tcm, TaskComplementarityModule)
