# Copyright (c) mmaims contributors. All rights reserved.
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmaims.models.dense_heads import AssociationHead

Q = 5


def _sample(num_e=3,
            part_parents=(0, 0, 2, -1),
            relations=((0, 1), ),
            exhaustive=True,
            levels=('part', 'entity', 'relation')):
    sample = DetDataSample()
    sample.gt_instances = InstanceData(labels=torch.zeros(num_e).long())
    sample.gt_part_instances = InstanceData(
        labels=torch.zeros(len(part_parents)).long(),
        entity_index=torch.tensor(part_parents, dtype=torch.long))
    sample.gt_relation_instances = InstanceData(
        labels=torch.zeros(len(relations)).long(),
        entity_index=torch.tensor(relations, dtype=torch.long).view(-1, 2))
    sample.set_metainfo(
        dict(
            img_id=7,
            task=dict(supervision={
                lvl: dict(level=lvl, exhaustive=exhaustive)
                for lvl in levels
            })))
    return sample


def _feats(batch=1, channels=16):
    torch.manual_seed(0)
    return {
        lvl: torch.randn(batch, Q, channels, requires_grad=True)
        for lvl in ('part', 'entity', 'relation')
    }


def _assign(queries, gts):
    return (torch.tensor(queries), torch.tensor(gts))


def test_forward_shapes_and_dot_product():
    head = AssociationHead(in_channels=16, feat_channels=8)
    feats = _feats(batch=2)
    logits = head(feats)
    assert logits['entity_part'].shape == (2, Q, Q)
    assert logits['relation_entity'].shape == (2, Q, Q)
    e = head.projs['entity'](feats['entity'])
    p = head.projs['part'](feats['part'])
    assert torch.allclose(logits['entity_part'], e @ p.transpose(1, 2))
    probs = head.predict(feats)
    assert torch.allclose(probs['entity_part'],
                          logits['entity_part'].sigmoid())


def test_targets_exhaustive():
    head = AssociationHead(in_channels=16, feat_channels=8)
    sample = _sample()
    logits = torch.zeros(Q, Q)
    # entity queries 1, 3, 4 matched to entities 0, 1, 2; part queries 0, 2,
    # 4, 1 matched to parts 0, 1, 2, 3 (part 3 has no known parent)
    target, weight = head._get_targets_single(
        logits, 'entity', 'part', _assign([1, 3, 4], [0, 1, 2]),
        _assign([0, 2, 4, 1], [0, 1, 2, 3]), sample)
    expected_t = torch.zeros(Q, Q)
    expected_t[1, 0] = expected_t[1, 2] = 1  # entity 0 -> parts 0, 1
    expected_t[4, 4] = 1  # entity 2 -> part 2
    assert torch.equal(target, expected_t)
    expected_w = torch.ones(Q, Q)
    # matched entity x part 3 (parent unknown) is ignored
    expected_w[[1, 3, 4], 1] = 0
    assert torch.equal(weight, expected_w)


def test_targets_not_exhaustive_only_matched_pairs():
    head = AssociationHead(in_channels=16, feat_channels=8)
    sample = _sample(exhaustive=False)
    target, weight = head._get_targets_single(
        torch.zeros(Q, Q), 'entity', 'part', _assign([1, 3, 4], [0, 1, 2]),
        _assign([0, 2, 4, 1], [0, 1, 2, 3]), sample)
    assert weight.sum() == 3 * 3  # 3 matched entities x 3 known parts
    assert weight[:, 3].sum() == 0 and weight[0].sum() == 0
    assert target.sum() == 3


def test_targets_relation_entity():
    head = AssociationHead(in_channels=16, feat_channels=8)
    sample = _sample(relations=((0, 2), (1, 2)))
    target, weight = head._get_targets_single(
        torch.zeros(Q, Q), 'relation', 'entity', _assign([3, 0], [0, 1]),
        _assign([0, 1, 2], [0, 1, 2]), sample)
    assert target[3].tolist() == [1, 0, 1, 0, 0]
    assert target[0].tolist() == [0, 1, 1, 0, 0]
    assert target.sum() == 4
    assert weight.sum() == Q * Q


def test_relation_decoder_matched_to_entities_gives_no_targets():
    # two-entity prompt: the relation decoder is supervised with entities
    head = AssociationHead(in_channels=16, feat_channels=8)
    sample = _sample()
    sample.set_metainfo(
        dict(
            task=dict(
                supervision=dict(
                    relation=dict(level='entity', exhaustive=True)))))
    target, weight = head._get_targets_single(
        torch.zeros(Q, Q), 'relation', 'entity', _assign([0, 1], [0, 1]),
        _assign([0, 1, 2], [0, 1, 2]), sample)
    assert weight.sum() == 0


def _batch():
    feats = _feats(batch=2)
    samples = [_sample(), _sample(exhaustive=False)]
    assignments = dict(
        entity=[_assign([1, 3, 4], [0, 1, 2]),
                _assign([0, 1, 2], [0, 1, 2])],
        part=[
            _assign([0, 2, 4, 1], [0, 1, 2, 3]),
            _assign([4, 3, 2, 1], [0, 1, 2, 3])
        ],
        relation=[_assign([2], [0]), None])
    return feats, assignments, samples


def _bce_terms(head, feats, assignments, samples):
    logits = head(feats)['entity_part']
    targets, weights = zip(*[
        head._get_targets_single(logits[i], 'entity', 'part',
                                 assignments['entity'][i],
                                 assignments['part'][i], samples[i])
        for i in range(2)
    ])
    target, weight = torch.stack(targets), torch.stack(weights)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, target, reduction='none')
    return logits, bce, target, weight


@pytest.mark.parametrize('balanced', [True, False])
def test_loss_values_and_gradients(balanced):
    head = AssociationHead(in_channels=16, feat_channels=8, balanced=balanced)
    feats, assignments, samples = _batch()
    losses = head.loss(feats, assignments, samples)
    assert set(losses) == {
        'entity_part.loss_assoc', 'relation_entity.loss_assoc',
        'entity_part.link_recall', 'relation_entity.link_recall'
    }
    for key, value in losses.items():
        if 'loss' in key:
            assert value.item() > 0
    logits, bce, target, w = _bce_terms(head, feats, assignments, samples)
    if balanced:
        # mean over the counted positive pairs and over the counted
        # negative pairs, averaged
        pos, neg = w * target, w * (1 - target)
        expected = ((bce * pos).sum() / pos.sum() +
                    (bce * neg).sum() / neg.sum()) / 2
    else:
        # eq. 8 read literally: the BCE averaged over the counted pairs
        expected = (bce * w).sum() / w.sum()
    # times the loss weight (5 by default)
    assert head.loss_assoc.loss_weight == 5.0
    torch.testing.assert_close(losses['entity_part.loss_assoc'],
                               5.0 * expected)
    # link recall: counted positive pairs with probability above 0.5
    positive = (w > 0) & (target > 0)
    torch.testing.assert_close(losses['entity_part.link_recall'],
                               (logits[positive] > 0).float().mean())
    assert not losses['entity_part.link_recall'].requires_grad
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_balanced_loss_gives_positives_the_weight_of_negatives():
    """With few positives among many pairs, the plain mean hardly moves
    when the positive pairs' logits change; the balanced one does."""
    head = AssociationHead(in_channels=16, feat_channels=8)
    weight = torch.ones(1000)
    target = torch.zeros(1000)
    target[:3] = 1
    for balanced, floor in ((True, 0.4), (False, 0.0)):
        head.balanced = balanced
        # per unit of loss weight
        right = head._loss(torch.where(target > 0, 5., -5.), target,
                           weight) / head.loss_assoc.loss_weight
        wrong = head._loss(torch.where(target > 0, -5., -5.), target,
                           weight) / head.loss_assoc.loss_weight
        if balanced:
            assert wrong - right > floor
        else:
            assert wrong - right < 0.02


def test_loss_without_pairs_is_zero_but_connected():
    head = AssociationHead(in_channels=16, feat_channels=8)
    feats = _feats(batch=1)
    samples = [_sample(levels=('entity', ))]
    assignments = dict(
        entity=[_assign([0], [0])], part=[None], relation=[None])
    losses = head.loss(feats, assignments, samples)
    for value in losses.values():
        assert value.item() == 0
        assert value.requires_grad
    sum(losses.values()).backward()
    for name, p in head.named_parameters():
        assert p.grad is not None, name


def test_bad_entity_index_names_the_image():
    head = AssociationHead(in_channels=16, feat_channels=8)
    sample = _sample(num_e=2, part_parents=(0, 5))
    with pytest.raises(ValueError, match='image 7.*entity_index'):
        head._get_targets_single(
            torch.zeros(Q, Q), 'entity', 'part', _assign([0], [0]),
            _assign([0], [0]), sample)


def test_missing_decoder_is_reported():
    head = AssociationHead(in_channels=16, feat_channels=8)
    feats = _feats()
    del feats['relation']
    with pytest.raises(KeyError, match='relation'):
        head(feats)
