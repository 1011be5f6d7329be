# Copyright (c) mmaims contributors. All rights reserved.
import pytest
import torch

from mmaims.registry import MODELS
from mmaims.utils import register_all_modules

register_all_modules()

H = W = 8


def partition(num=3):
    """A partition of the H x W grid into ``num`` vertical stripes."""
    masks = torch.zeros(num, H, W, dtype=torch.bool)
    bounds = torch.linspace(0, W, num + 1).long()
    for k in range(num):
        masks[k, :, bounds[k]:bounds[k + 1]] = True
    return masks


def logits_of(masks, scale=20.0):
    """Large logits that agree with ``masks``."""
    return (masks.float() * 2 - 1) * scale


def build(**kwargs):
    return MODELS.build(dict(type='OverlapSuppressionLoss', **kwargs))


@pytest.mark.parametrize('naive_dice', [False, True])
def test_perfect_partition_is_near_zero(naive_dice):
    loss_fn = build(naive_dice=naive_dice)
    masks = partition()
    loss = loss_fn(logits_of(masks), masks)
    assert loss.dim() == 0
    assert 0 <= loss.item() < 1e-3
    # and a random prediction is far from it
    g = torch.Generator().manual_seed(0)
    random = loss_fn(torch.randn(3, H, W, generator=g), masks)
    assert random.item() > 0.2


def test_matches_hand_computed_value():
    """Two clusters, four pixels: softmax and Dice written out."""
    loss_fn = build(naive_dice=True, eps=0.0, loss_weight=2.0)
    logits = torch.tensor([[[0.0, 1.0, 2.0, 0.0]], [[0.0, 0.0, 0.0, 3.0]]])
    masks = torch.tensor([[[1, 1, 0, 0]], [[0, 0, 1, 1]]], dtype=torch.bool)
    p0 = torch.softmax(logits, dim=0)[0, 0]
    p1 = 1 - p0
    dice0 = 2 * (p0[0] + p0[1]) / (p0.sum() + 2)
    dice1 = 2 * (p1[2] + p1[3]) / (p1.sum() + 2)
    expected = 2.0 * ((1 - dice0) + (1 - dice1)) / 2
    torch.testing.assert_close(loss_fn(logits, masks), expected)


def test_grows_with_overlap():
    """Cluster 1 also claims (part of) cluster 0's pixels: each alone still
    covers its own mask, but the softmax shares the pixels and the loss
    grows with the size of the overlap."""
    loss_fn = build()
    masks = partition(2)
    losses = []
    for width in (0, 1, 2, 4):
        logits = logits_of(masks)
        logits[1, :, :width] = 20.0  # cluster 0's first columns
        losses.append(loss_fn(logits, masks).item())
    assert losses[0] < 1e-3
    assert all(a < b for a, b in zip(losses, losses[1:])), losses
    # two clusters predicting the whole image: each gets 1/2 of every
    # pixel; eq. 1's Dice of a half map vs a half target:
    # 1 - 2 * sum(p t) / (sum p^2 + sum t^2) = 1 - 2 * 16 / (16 + 32)
    same = torch.full((2, H, W), 20.0)
    assert loss_fn(same, masks).item() == pytest.approx(1 / 3, abs=1e-3)


def test_pixels_outside_valid_region_change_nothing():
    loss_fn = build()
    masks = partition()
    valid = torch.zeros(H, W, dtype=torch.bool)
    valid[:5] = True
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, H, W, generator=g, requires_grad=True)
    ref = loss_fn(logits, masks, valid)
    ref.backward()
    assert logits.grad[:, ~valid].abs().max() == 0
    assert logits.grad[:, valid].abs().max() > 0
    changed = logits.detach().clone()
    changed[:, ~valid] = 50 * torch.randn(3, int((~valid).sum()), generator=g)
    torch.testing.assert_close(
        loss_fn(changed, masks, valid), ref.detach(), rtol=0, atol=0)
    # the same change inside the region does move it
    inside = logits.detach().clone()
    inside[:, valid] = 50 * torch.randn(3, int(valid.sum()), generator=g)
    assert loss_fn(inside, masks, valid).item() != pytest.approx(ref.item())
    # a wrong prediction outside the region is not penalised
    masks_logits = logits_of(masks)
    masks_logits[:, ~valid] = 20.0  # every cluster claims those pixels
    assert loss_fn(masks_logits, masks, valid).item() < 1e-3
    assert loss_fn(masks_logits, masks).item() > 0.1


def test_unannotated_and_doubly_annotated_pixels_ignored():
    """Pixels of no target and of two targets have no cluster to go to."""
    loss_fn = build()
    masks = partition(2)
    masks[:, 0] = False  # row 0: no entity
    masks[:, 1] = True  # row 1: both entities
    logits = logits_of(partition(2))
    ref = loss_fn(logits, masks)
    assert ref.item() < 1e-3
    changed = logits.clone()
    changed[:, :2] = torch.randn(2, 2, W) * 30
    torch.testing.assert_close(loss_fn(changed, masks), ref, rtol=0, atol=0)


def test_one_cluster_is_zero_without_gradient():
    """K = 1: the softmax over one cluster is identically 1 (no background
    channel), so the loss is the Dice of the target with itself."""
    loss_fn = build()
    masks = torch.zeros(1, H, W, dtype=torch.bool)
    masks[0, 2:6, 2:6] = True
    logits = torch.randn(1, H, W, requires_grad=True)
    loss = loss_fn(logits, masks)
    assert 0 <= loss.item() < 1e-3
    loss.backward()
    assert logits.grad.abs().max() == 0
    assert build(naive_dice=True)(logits, masks).item() == 0


def test_no_cluster_is_connected_zero():
    logits = torch.randn(0, H, W, requires_grad=True)
    loss = build()(logits, torch.zeros(0, H, W, dtype=torch.bool))
    assert loss.item() == 0 and loss.requires_grad


def test_clusters_of_several_predictions_are_averaged():
    """eq. 3: a cluster's representative logits are its predictions' mean."""
    loss_fn = build()
    masks = partition()
    g = torch.Generator().manual_seed(2)
    stacks = [torch.randn(n, H, W, generator=g) for n in (1, 3, 2)]
    means = torch.stack([s.mean(dim=0) for s in stacks])
    torch.testing.assert_close(
        loss_fn(stacks, masks), loss_fn(means, masks), rtol=0, atol=0)
    # the mean of two wrong predictions can be right
    right = logits_of(masks)
    stacks = [
        right[0:1],
        torch.stack([right[1] + 30, right[1] - 30]), right[2:3]
    ]
    assert loss_fn(stacks, masks).item() < 1e-3


def test_reductions_and_weight():
    masks = partition()
    masks[2] = False  # a cluster with no pixel: weight 0
    masks[1, :, -2:] = True
    logits = torch.randn(3, H, W)
    per_cluster = build(reduction='none')(logits, masks)
    assert per_cluster.shape == (3, ) and per_cluster[2] == 0
    assert (per_cluster[:2] > 0).all()
    torch.testing.assert_close(build()(logits, masks), per_cluster.sum() / 3)
    torch.testing.assert_close(
        build(loss_weight=3.0)(logits, masks, avg_factor=4.0),
        3.0 * per_cluster.sum() / 4.0)
    torch.testing.assert_close(
        build()(logits, masks, reduction_override='sum'), per_cluster.sum())


def test_bad_inputs_raise():
    loss_fn = build()
    masks = partition()
    with pytest.raises(ValueError, match='one mask per cluster'):
        loss_fn(torch.randn(2, H, W), masks)
    with pytest.raises(ValueError, match='valid_region'):
        loss_fn(torch.randn(3, H, W), masks, torch.ones(H, H + 1).bool())
    with pytest.raises(ValueError, match='empty list'):
        loss_fn([], masks)
    with pytest.raises(ValueError, match='cluster 1'):
        loss_fn([torch.randn(1, H, W), torch.randn(0, H, W)], masks[:2])
    with pytest.raises(ValueError, match='reduction'):
        build(reduction='avg')
