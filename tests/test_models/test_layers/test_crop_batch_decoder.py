# Copyright (c) mmaims contributors. All rights reserved.
import pytest
import torch

from mmaims.models.layers import BatchDecoderOutput, CropBatchDecoder
from mmaims.registry import MODELS

C, C_OUT, N = 16, 8, 5


def decoder_cfg(num_layers=3):
    return dict(
        type='CropBatchDecoder',
        feat_channels=C,
        out_channels=C_OUT,
        num_queries=N,
        num_transformer_feat_level=3,
        transformer_decoder=dict(
            return_intermediate=True,
            num_layers=num_layers,
            layer_cfg=dict(
                self_attn_cfg=dict(
                    embed_dims=C, num_heads=2, dropout=0.0, batch_first=True),
                cross_attn_cfg=dict(
                    embed_dims=C, num_heads=2, dropout=0.0, batch_first=True),
                ffn_cfg=dict(
                    embed_dims=C,
                    feedforward_channels=32,
                    num_fcs=2,
                    ffn_drop=0.0,
                    act_cfg=dict(type='ReLU', inplace=True))),
            init_cfg=None))


def _inputs(batch=2, views=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(batch, N, C, generator=g)
    mask_features = torch.randn(batch, views, C_OUT, 16, 20, generator=g)
    memorys = [
        torch.randn(batch, views, C, h, w, generator=g)
        for h, w in ((2, 3), (4, 5), (8, 10))
    ]
    return query, mask_features, memorys


def _build(**kwargs):
    decoder = MODELS.build(decoder_cfg(**kwargs))
    decoder.init_weights()
    return decoder


@pytest.mark.parametrize('views', [2, 5])
def test_shapes(views):
    decoder = _build()
    assert isinstance(decoder, CropBatchDecoder)
    out = decoder(*_inputs(views=views))
    assert isinstance(out, BatchDecoderOutput)
    # the batch queries' prediction, then one per block
    assert len(out.cls_scores) == len(out.mask_preds) == 4
    for cls, mask in zip(out.cls_scores, out.mask_preds):
        assert cls.shape == (2, N, 2)
        assert mask.shape == (2, N, views, 16, 20)
    assert out.query_feats.shape == (2, N, C)


def test_one_embedding_gives_each_view_its_mask():
    """The mask of query n in view v is the dot product of one embedding
    of query n with view v's mask features."""
    decoder = _build().eval()
    query, mask_features, memorys = _inputs(batch=1, views=2)
    out = decoder(query, mask_features, memorys)
    embed = decoder.mask_embed(out.query_feats)  # (1, N, C_out)
    for v in range(2):
        expected = torch.einsum('bnc,bchw->bnhw', embed, mask_features[:, v])
        torch.testing.assert_close(
            out.mask_preds[-1][:, :, v], expected, rtol=1e-4, atol=1e-4)
    # the views differ, so do the masks of one query
    assert not torch.allclose(out.mask_preds[-1][:, :, 0],
                              out.mask_preds[-1][:, :, 1])


def test_views_exchange_information():
    """The decoder attends to every view: changing the crop's features
    changes the full view's masks (through the shared embeddings)."""
    decoder = _build().eval()
    query, mask_features, memorys = _inputs(batch=1, views=2)
    out = decoder(query, mask_features, memorys)
    memorys2 = [m.clone() for m in memorys]
    for m in memorys2:
        m[:, 1] += 2.0
    out2 = decoder(query, mask_features, memorys2)
    assert not torch.allclose(out.mask_preds[-1][:, :, 0],
                              out2.mask_preds[-1][:, :, 0])


def test_gradients_reach_the_queries_and_all_views():
    decoder = _build()
    query, mask_features, memorys = _inputs(views=2)
    query.requires_grad_(True)
    memorys = [m.requires_grad_(True) for m in memorys]
    out = decoder(query, mask_features, memorys)
    (out.mask_preds[-1].sum() + out.cls_scores[-1].sum()).backward()
    assert query.grad.abs().sum() > 0
    for m in memorys:
        assert (m.grad.abs().sum(dim=(0, 2, 3, 4)) > 0).all()


def test_bad_inputs():
    decoder = _build()
    query, mask_features, memorys = _inputs(views=2)
    with pytest.raises(ValueError, match='query'):
        decoder(query[:, :3], mask_features, memorys)
    with pytest.raises(ValueError, match='mask_features'):
        decoder(query, mask_features[:, 0], memorys)
    with pytest.raises(ValueError, match='feature levels'):
        decoder(query, mask_features, memorys[:2])
    with pytest.raises(ValueError, match=r'multi_scale_memorys\[1\]'):
        decoder(query, mask_features,
                [memorys[0], memorys[1][:, :1], memorys[2]])
