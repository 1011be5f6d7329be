# Copyright (c) mmaims contributors. All rights reserved.
import numpy as np
import pytest
import torch

from mmaims.models.dense_heads import CropFormerBatchHead, stack_view_targets
from mmaims.registry import MODELS
from tests.test_models.test_layers import \
    test_crop_batch_decoder as crop_decoder

# the batch decoder's test setting: widths, config and inputs
C, C_OUT, N = crop_decoder.C, crop_decoder.C_OUT, crop_decoder.N
decoder_cfg = crop_decoder.decoder_cfg
_inputs = crop_decoder._inputs


def _head(train=True):
    cfg = dict(
        type='CropFormerBatchHead',
        association=dict(
            cross_attn_cfg=dict(num_heads=2),
            self_attn_cfg=dict(num_heads=2),
            ffn_cfg=dict(feedforward_channels=32)),
        batch_decoder=decoder_cfg(num_layers=2))
    if train:
        cfg['train_cfg'] = dict(
            num_points=64,
            assigner=dict(
                type='JointViewHungarianAssigner',
                match_costs=[dict(type='ClassificationCost', weight=2.0)],
                view_match_costs=[
                    dict(
                        type='CrossEntropyLossCost',
                        weight=5.0,
                        use_sigmoid=True),
                    dict(type='DiceCost', weight=5.0, pred_act=True, eps=1.0)
                ]))
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def test_stack_view_targets():
    full = torch.zeros(3, 4, 4, dtype=torch.bool)
    full[0, :2], full[1, 2:], full[2, :, 3] = True, True, True
    # the crop shows entities 0 and 2 (crop rows 0 and 1), not entity 1
    crop = torch.zeros(2, 4, 4, dtype=torch.bool)
    crop[0, 0], crop[1, :, 1:] = True, True
    masks, present = stack_view_targets(full, [crop], [np.array([0, -1, 1])])
    assert masks.shape == (3, 2, 4, 4) and masks.dtype == torch.bool
    assert present.tolist() == [[True, True], [True, False], [True, True]]
    assert torch.equal(masks[:, 0], full)
    assert torch.equal(masks[0, 1], crop[0])
    assert not masks[1, 1].any()
    assert torch.equal(masks[2, 1], crop[1])
    with pytest.raises(ValueError, match='one row per full-view entity'):
        stack_view_targets(full, [crop], [np.array([0, 1])])
    with pytest.raises(ValueError, match='outside'):
        stack_view_targets(full, [crop], [np.array([0, 2, 1])])


def _targets(batch=2, views=2):
    """Per sample 2 entities at the (64, 80) input size; the second one is
    absent from the crop of sample 0."""
    masks, presents = [], []
    for i in range(batch):
        full = torch.zeros(2, 64, 80, dtype=torch.bool)
        full[0, :32, :40] = True
        full[1, 32:, 40:] = True
        crop = torch.zeros(2, 64, 80, dtype=torch.bool)
        crop[0, :48, :60] = True
        crop[1, 20:, 20:] = True
        index = np.array([0, -1]) if i == 0 else np.array([0, 1])
        crops = [crop] * (views - 1)
        m, p = stack_view_targets(full, crops, [index] * (views - 1))
        masks.append(m)
        presents.append(p)
    return masks, presents


def _forward(head, views=2):
    query, mask_features, memorys = _inputs(views=views)
    full_embeds = query
    crop_embeds = torch.randn(2, views - 1, N, C)
    return head(full_embeds, crop_embeds, mask_features, memorys)


@pytest.mark.parametrize('views', [2, 3])
def test_forward_and_loss_with_entities(views):
    torch.manual_seed(0)
    head = _head()
    assert isinstance(head, CropFormerBatchHead)
    out = _forward(head, views)
    assert out.mask_preds[-1].shape == (2, N, views, 16, 20)
    losses = head.loss_by_feat(out.cls_scores, out.mask_preds,
                               *_targets(views=views))
    expected = {'batch.loss_cls', 'batch.loss_mask', 'batch.loss_dice'}
    for block in range(2):
        expected |= {
            f'batch.d{block}.loss_cls', f'batch.d{block}.loss_mask',
            f'batch.d{block}.loss_dice'
        }
    assert set(losses) == expected
    for key, value in losses.items():
        assert torch.isfinite(value) and value > 0, key
    sum(losses.values()).backward()
    for name, p in head.named_parameters():
        assert p.grad is not None, name


def test_empty_targets():
    torch.manual_seed(0)
    head = _head()
    out = _forward(head)
    empty = [torch.zeros(0, 2, 64, 80, dtype=torch.bool)] * 2
    present = [torch.zeros(0, 2, dtype=torch.bool)] * 2
    losses = head.loss_by_feat(out.cls_scores, out.mask_preds, empty, present)
    assert losses['batch.loss_cls'] > 0
    assert losses['batch.loss_mask'] == 0
    assert losses['batch.loss_dice'] == 0
    sum(losses.values()).backward()
    assert head.batch_decoder.cls_embed.weight.grad.abs().sum() > 0


def test_absent_entity_is_supervised_with_an_empty_crop_mask():
    """Hand-made predictions: query 0 is entity 0 and query 1 entity 1 in
    both views, the other queries predict nothing. Entity 1 is absent from
    the crop, so the loss is low when query 1 predicts an empty crop mask
    and high when it predicts the entity there."""
    torch.manual_seed(0)
    head = _head()
    masks, present = _targets(batch=1)
    assert present[0].tolist() == [[True, True], [True, False]]
    target = masks[0].float()  # (2, 2, 64, 80)
    logits = torch.full((1, N, 2, 64, 80), -30.0)
    logits[0, :2] = target * 60.0 - 30.0
    cls_scores = torch.zeros(1, N, 2)
    cls_scores[0, :2, 0] = 5.0
    cls_scores[0, 2:, 1] = 5.0
    fit = head.loss_by_feat([cls_scores], [logits], masks, present)
    wrong = logits.clone()
    wrong[0, 1, 1, 20:, 20:] = 30.0  # entity 1 "seen" in the crop
    unfit = head.loss_by_feat([cls_scores], [wrong], masks, present)
    assert unfit['batch.loss_mask'] > fit['batch.loss_mask'] + 1.0
    assert unfit['batch.loss_dice'] > fit['batch.loss_dice'] + 1.0
    # the matching is joint and was not changed by the wrong crop mask
    assert fit['batch.loss_cls'] == unfit['batch.loss_cls']


def test_loss_needs_train_cfg_and_matching_inputs():
    head = _head(train=False)
    out = _forward(head)
    with pytest.raises(RuntimeError, match='train_cfg'):
        head.loss_by_feat(out.cls_scores, out.mask_preds, *_targets())
    head = _head()
    masks, present = _targets()
    with pytest.raises(ValueError, match='samples'):
        head.loss_by_feat(out.cls_scores, out.mask_preds, masks[:1],
                          present[:1])
    with pytest.raises(ValueError, match='targets must be'):
        head.loss_by_feat(out.cls_scores, out.mask_preds,
                          [m[:, :1] for m in masks], present)


def test_points_outside_a_views_loss_region_do_not_count():
    """Hand-made fit as above; then query 0 also "sees" its entity in the
    bottom-right quarter of the crop, where the annotation is not trusted
    (outside the crop's loss region: unannotated or crowd). With the
    regions the losses and the matching are those of the fit; without
    them the wrong pixels are penalised."""
    head = _head()
    masks, present = _targets(batch=1)
    target = masks[0].float()
    logits = torch.full((1, N, 2, 64, 80), -30.0)
    logits[0, :2] = target * 60.0 - 30.0
    cls_scores = torch.zeros(1, N, 2)
    cls_scores[0, :2, 0] = 5.0
    cls_scores[0, 2:, 1] = 5.0
    wrong = logits.clone()
    wrong[0, 0, 1, 48:, 60:] = 30.0
    region = torch.ones(2, 64, 80, dtype=torch.bool)
    region[1, 48:, 60:] = False

    def losses(preds, regions):
        torch.manual_seed(0)  # the same random points for both calls
        return head.loss_by_feat([cls_scores], [preds], masks, present,
                                 regions)

    fit = losses(logits, [region])
    ignored = losses(wrong, [region])
    for key in fit:
        torch.testing.assert_close(ignored[key], fit[key], msg=key)
    counted = losses(wrong, None)
    assert counted['batch.loss_mask'] > fit['batch.loss_mask'] + 0.5
    assert counted['batch.loss_dice'] > fit['batch.loss_dice'] + 0.05
    with pytest.raises(ValueError, match='loss region'):
        head.loss_by_feat([cls_scores], [logits], masks, present,
                          [region[:1]])
