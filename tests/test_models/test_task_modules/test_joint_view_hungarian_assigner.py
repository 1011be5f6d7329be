# Copyright (c) mmaims contributors. All rights reserved.
import pytest
import torch
from mmengine.structures import InstanceData

from mmaims.models.task_modules import JointViewHungarianAssigner
from mmaims.registry import TASK_UTILS

# near-binary mask logits: sigmoid is 0 or 1 to float precision
ON, OFF = 30.0, -30.0


def _logits(bits):
    return torch.tensor([[ON if b else OFF for b in row] for row in bits])


def _build():
    return TASK_UTILS.build(
        dict(
            type='JointViewHungarianAssigner',
            match_costs=[dict(type='ClassificationCost', weight=1.0)],
            view_match_costs=[
                dict(type='DiceCost', weight=1.0, pred_act=True, eps=1.0)
            ]))


def _case():
    """Two queries, two entities, a full view and a crop, 4 points each.

    Dice costs (1 - (2|p.g| + 1) / (|p| + |g| + 1)):

    - full view: q0 = [1,1,1,0] costs 1/6 for e0 = [1,1,0,0] and for
      e1 = [0,1,1,0]; q1 = [0,1,1,0] costs 0.4 for e0 and 0 for e1. Alone
      it prefers q0-e0, q1-e1 (1/6 against 1/6 + 0.4).
    - crop: e0 = [1,1,0,0], e1 = [0,0,1,1]; q0 = [0,0,1,1] costs 0.8 for
      e0 and 0 for e1; q1 = [1,1,0,0] costs 0 for e0 and 0.8 for e1. Alone
      it prefers q0-e1, q1-e0.
    - jointly: q0-e0, q1-e1 costs 1/6 + 0 + 0.8 + 0.8; q0-e1, q1-e0 costs
      1/6 + 0.4 + 0 + 0, so q0-e1, q1-e0 — unlike the full view alone.
    """
    pred_full = _logits([[1, 1, 1, 0], [0, 1, 1, 0]])
    pred_crop = _logits([[0, 0, 1, 1], [1, 1, 0, 0]])
    gt_full = torch.tensor([[1, 1, 0, 0], [0, 1, 1, 0]]).float()
    gt_crop = torch.tensor([[1, 1, 0, 0], [0, 0, 1, 1]]).float()
    preds = InstanceData(
        scores=torch.zeros(2, 2),  # equal entityness: no preference
        masks=torch.stack([pred_full, pred_crop], dim=1))
    gts = InstanceData(
        labels=torch.zeros(2, dtype=torch.long),
        masks=torch.stack([gt_full, gt_crop], dim=1),
        present=torch.ones(2, 2, dtype=torch.bool))
    return preds, gts


def _match_view(preds, gts, view):
    """mmdet's HungarianAssigner on one view only."""
    assigner = TASK_UTILS.build(
        dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='ClassificationCost', weight=1.0),
                dict(type='DiceCost', weight=1.0, pred_act=True, eps=1.0)
            ]))
    result = assigner.assign(
        InstanceData(scores=preds.scores, masks=preds.masks[:, view]),
        InstanceData(labels=gts.labels, masks=gts.masks[:, view]))
    return result.gt_inds.tolist()


def test_joint_matching_differs_from_per_view_matching():
    preds, gts = _case()
    assigner = _build()
    assert isinstance(assigner, JointViewHungarianAssigner)
    # gt_inds are 1-based
    assert _match_view(preds, gts, 0) == [1, 2]
    assert _match_view(preds, gts, 1) == [2, 1]
    result = assigner.assign(preds, gts)
    assert result.gt_inds.tolist() == [2, 1]
    assert result.labels.tolist() == [0, 0]
    # the cost is the classification cost once plus both views' dice
    cls = -torch.softmax(torch.zeros(2), 0)[0]
    expected = torch.tensor([[1 / 6 + 0.8, 1 / 6 + 0.0],
                             [0.4 + 0.0, 0.0 + 0.8]]) + cls
    torch.testing.assert_close(
        assigner.get_cost(preds, gts), expected, rtol=1e-5, atol=1e-5)


def test_absent_entity_costs_only_its_full_view():
    preds, gts = _case()
    # a third entity, absent from the crop, with a crop "mask" that would
    # cost nothing for q0 if it were counted
    gts = InstanceData(
        labels=torch.zeros(3, dtype=torch.long),
        masks=torch.cat(
            [gts.masks,
             torch.tensor([[[0, 0, 0, 1], [0, 0, 1, 1]]]).float()]),
        present=torch.tensor([[True, True], [True, True], [True, False]]))
    preds = InstanceData(
        scores=torch.zeros(3, 2),
        masks=torch.cat(
            [preds.masks,
             _logits([[0, 0, 0, 1], [1, 0, 0, 0]])[None]]))
    cost = _build().get_cost(preds, gts)
    cls = -torch.softmax(torch.zeros(2), 0)[0]
    # column 2 = classification + full-view dice only
    full_dice = torch.tensor([1 - 1 / 5, 1 - 1 / 4, 0.0])
    torch.testing.assert_close(
        cost[:, 2], full_dice + cls, rtol=1e-5, atol=1e-5)
    # q2 shows entity 2 in the full view and is matched to it
    result = _build().assign(preds, gts)
    assert result.gt_inds.tolist() == [2, 1, 3]


def test_more_queries_than_entities_and_no_entities():
    preds, gts = _case()
    preds = InstanceData(
        scores=torch.zeros(3, 2),
        masks=torch.cat([preds.masks, torch.full((1, 2, 4), OFF)]))
    result = _build().assign(preds, gts)
    assert result.gt_inds.tolist() == [2, 1, 0]
    empty = InstanceData(
        labels=torch.zeros(0, dtype=torch.long),
        masks=torch.zeros(0, 2, 4),
        present=torch.zeros(0, 2, dtype=torch.bool))
    result = _build().assign(preds, empty)
    assert result.num_gts == 0
    assert result.gt_inds.tolist() == [0, 0, 0]


def test_view_mismatch_and_empty_view_costs():
    preds, gts = _case()
    gts.present = torch.ones(2, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match='views'):
        _build().get_cost(preds, gts)
    with pytest.raises(ValueError, match='view_match_costs'):
        JointViewHungarianAssigner(
            match_costs=dict(type='ClassificationCost'), view_match_costs=[])
