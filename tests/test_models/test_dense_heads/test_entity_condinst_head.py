# Copyright (c) mmaims contributors. All rights reserved.
"""The entity framework's heads (paper 002, Sec. 5) on hand-made inputs."""
import numpy as np
import pytest
import torch
from mmdet.structures.mask import BitmapMasks
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmaims.models.dense_heads import (KERNEL_BANK_PATHS, KERNEL_BANK_WEIGHTS,
                                       EntityBboxHead, EntityMaskHead)
from mmaims.registry import MODELS
from mmaims.utils import register_all_modules

register_all_modules()


def _bbox_head(**kwargs):
    cfg = dict(
        type='EntityBboxHead',
        num_params=169,
        in_channels=16,
        stacked_convs=1,
        feat_channels=32,
        strides=[8, 16, 32],
        regress_ranges=((-1, 64), (64, 128), (128, 1e8)),
        center_sampling=True,
        center_sample_radius=1.5,
        norm_on_bbox=True,
        centerness_on_reg=True,
        conv_bias=True,
        loss_cls=dict(
            type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25),
        loss_bbox=dict(type='GIoULoss'),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True),
        test_cfg=ConfigDict(
            nms_pre=100,
            min_bbox_size=0,
            score_thr=0.0,
            nms=dict(type='nms', iou_threshold=0.6),
            max_per_img=10))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def _mask_head(**kwargs):
    cfg = dict(
        type='EntityMaskHead',
        num_layers=3,
        feat_channels=4,
        size_of_interest=8,
        mask_out_stride=4,
        mask_feature_head=dict(
            in_channels=16,
            feat_channels=8,
            start_level=0,
            end_level=2,
            out_channels=4,
            mask_stride=8,
            num_stacked_convs=1,
            norm_cfg=None),
        loss_mask=dict(
            type='DiceLoss', use_sigmoid=True, activate=True, eps=5e-6),
        test_cfg=ConfigDict(mask_thr=0.5))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def _positives(head, x, points_per_inst=2, seed=0):
    """Random positive infos: two kernels for each of two entities."""
    g = torch.Generator().manual_seed(seed)
    num = 2 * points_per_inst
    return InstanceData(
        param_preds=torch.randn(num, head.num_params, generator=g) * 0.5,
        points=torch.rand(num, 2, generator=g) * 64,
        strides=torch.full((num, ), 8.),
        pos_assigned_gt_inds=torch.arange(2).repeat_interleave(
            points_per_inst),
        scores=torch.randn(num, 1, generator=g),
        centernesses=torch.randn(num, 1, generator=g))


def test_positives_sit_at_the_centre_of_mass_of_a_disconnected_region():
    """A stuff entity made of two blobs at the left and right ends of a
    64 x 64 image, the left blob three times the right one: its centre of
    mass is left of its box centre, between the blobs, and the positive
    locations gather there, not at the box centre."""
    head = _bbox_head()
    assert isinstance(head, EntityBboxHead)
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[16:48, 0:24] = 1  # 32 x 24
    mask[16:48, 56:64] = 1  # 32 x 8
    _, xs = np.nonzero(mask)
    com_x = xs.mean() + 0.5  # pixel centres
    gt = InstanceData(
        bboxes=torch.tensor([[0., 16., 64., 48.]]),
        labels=torch.zeros(1, dtype=torch.long),
        masks=BitmapMasks(mask[None], 64, 64))
    points = head.prior_generator.grid_priors([(8, 8), (4, 4), (2, 2)],
                                              device='cpu')
    labels, _, pos_inds, pos_gt = head.get_targets(points, [gt])[:4]
    pos_points = torch.cat(points)[pos_inds[0]]
    assert len(pos_points) > 0 and (pos_gt[0] == 0).all()
    centre = pos_points.mean(0)
    # the mass centre (x ~ 22) and not the box centre (x = 32)
    assert abs(centre[0].item() - com_x) < abs(centre[0].item() - 32.)
    assert abs(centre[0].item() - com_x) <= 8
    # the positives are in the gap too: the entity is its mass centre
    assert ((pos_points[:, 0] > 24) & (pos_points[:, 0] < 56)).any()


def test_score_is_the_geometric_mean_of_centerness_and_entityness():
    head = _bbox_head()
    results = InstanceData(
        bboxes=torch.tensor([[0., 0., 10., 10.], [20., 20., 30., 30.]]),
        scores=torch.tensor([0.81, 0.25]),
        labels=torch.zeros(2, dtype=torch.long),
        score_factors=torch.tensor([0.49, 1.0]))
    out = head._bbox_post_process(
        results, head.test_cfg, rescale=False, with_nms=False)
    assert sorted(out.scores.tolist()) == pytest.approx(
        sorted([(0.81 * 0.49)**0.5, 0.25**0.5]))
    with pytest.raises(ValueError, match='class-agnostic'):
        _bbox_head(num_classes=3)


def test_seven_paths_in_training_and_one_at_inference():
    head = _mask_head(loss_overlap=dict(type='OverlapSuppressionLoss'))
    assert isinstance(head, EntityMaskHead)
    assert len(KERNEL_BANK_PATHS) == 7 and sum(KERNEL_BANK_WEIGHTS) == 4.75
    # paths 1-3 have a static first layer (the small weights), path 7 is
    # all dynamic, no path is all static
    assert [p[0] for p in KERNEL_BANK_PATHS] == [False] * 3 + [True] * 4
    assert KERNEL_BANK_PATHS[-1] == (True, True, True)
    assert (False, False, False) not in KERNEL_BANK_PATHS
    assert len(set(KERNEL_BANK_PATHS)) == 7
    assert [tuple(w.shape) for w in head.static_weights] == [(4, 6, 1, 1),
                                                             (4, 4, 1, 1),
                                                             (1, 4, 1, 1)]
    x = [torch.randn(1, 16, 64 // s, 64 // s) for s in (8, 16, 32)]
    pos = _positives(head, x)
    head.train()
    (train_masks, ) = head(x, [pos])
    assert train_masks[0].shape == (4, 7, 16, 16)
    head.eval()
    (test_masks, ) = head(x, [pos])
    assert test_masks[0].shape == (4, 16, 16)
    # inference is the all-dynamic path (7), and it ignores the static
    # kernels
    torch.testing.assert_close(test_masks[0], train_masks[0][:, -1])
    with torch.no_grad():
        for w in head.static_weights:
            w.add_(1.0)
    (again, ) = head(x, [pos])
    torch.testing.assert_close(again[0], test_masks[0])
    head.train()
    (changed, ) = head(x, [pos])
    assert not torch.allclose(changed[0][:, 0], train_masks[0][:, 0])
    torch.testing.assert_close(changed[0][:, -1], train_masks[0][:, -1])


def test_kernel_bank_losses_and_gradients():
    torch.manual_seed(0)
    head = _mask_head(loss_overlap=dict(type='OverlapSuppressionLoss'))
    head.train()
    x = [torch.randn(1, 16, 64 // s, 64 // s) for s in (8, 16, 32)]
    pos = _positives(head, x)
    masks = np.zeros((2, 64, 64), dtype=np.uint8)
    masks[0, :, :32] = 1
    masks[1, :, 32:] = 1
    gt = InstanceData(
        bboxes=torch.tensor([[0., 0., 32., 64.], [32., 0., 64., 64.]]),
        labels=torch.zeros(2, dtype=torch.long),
        masks=BitmapMasks(masks, 64, 64))
    (preds, ) = head(x, [pos])
    losses = head.loss_by_feat(preds, [gt], [dict()], [pos])
    assert set(losses) == {'loss_mask', 'loss_overlap'} | {
        f'loss_mask_path{r}'
        for r in range(1, 7)
    }
    # each path's Dice carries its weight: one Dice is at most 1 per mask
    for r, w in enumerate(KERNEL_BANK_WEIGHTS[:-1], start=1):
        assert 0 < losses[f'loss_mask_path{r}'] <= w + 1e-6
    assert 0 < losses['loss_overlap']
    sum(losses.values()).backward()
    for w in head.static_weights:
        assert w.grad is not None and w.grad.abs().sum() > 0
    # without the bank: only the all-dynamic Dice, no static kernel
    plain = _mask_head(kernel_bank=False)
    plain.train()
    (preds, ) = plain(x, [pos])
    assert preds[0].shape == (4, 16, 16)
    assert set(plain.loss_by_feat(preds, [gt], [dict()],
                                  [pos])) == {'loss_mask'}
    assert not hasattr(plain, 'static_weights')


def test_overlap_suppression_sees_the_kernel_clusters_and_valid_region():
    """Two entities, two kernels each; the kernels of entity 0 predict
    entity 0 and the kernels of entity 1 predict entity 1, except in the
    right quarter where entity 1's kernels also claim entity 0's pixels...
    which lie outside the valid region: then the loss is that of the
    perfect partition."""
    head = _mask_head(
        kernel_bank=False, loss_overlap=dict(type='OverlapSuppressionLoss'))
    masks = np.zeros((2, 64, 64), dtype=np.uint8)
    masks[0, :, :48] = 1
    masks[1, :, 48:] = 1
    gt = InstanceData(
        bboxes=torch.tensor([[0., 0., 48., 64.], [48., 0., 64., 64.]]),
        labels=torch.zeros(2, dtype=torch.long),
        masks=BitmapMasks(masks, 64, 64))
    target = torch.from_numpy(masks[:, 2::4, 2::4]).float()  # (2, 16, 16)
    logits = (target * 20 - 10).repeat_interleave(2, dim=0)  # 4 kernels
    pos = InstanceData(
        pos_assigned_gt_inds=torch.tensor([0, 0, 1, 1]),
        scores=torch.zeros(4, 1),
        centernesses=torch.zeros(4, 1))
    perfect = head.loss_by_feat([logits], [gt], [dict()], [pos])
    assert perfect['loss_overlap'] < 1e-3
    overlap = logits.clone()
    overlap[2:, :, 8:12] = 10.  # entity 1's kernels take cols 32-47
    worse = head.loss_by_feat([overlap], [gt], [dict()], [pos])
    assert worse['loss_overlap'] > perfect['loss_overlap'] + 0.02
    region = torch.ones(64, 64, dtype=torch.bool)
    region[:, 32:48] = False
    ignored = head.loss_by_feat([overlap], [gt], [dict()], [pos],
                                valid_regions=[region])
    assert ignored['loss_overlap'] < 1e-3
