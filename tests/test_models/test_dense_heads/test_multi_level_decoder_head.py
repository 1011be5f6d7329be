# Copyright (c) mmaims contributors. All rights reserved.
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmdet.models.dense_heads import Mask2FormerHead
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData, PixelData

from mmaims.registry import MODELS

M2F_CONVERTER = 'model_converters/mask2former_to_aims.py'
FEAT = 32
NUM_LAYERS = 3
SIZE = 64  # padded input; mask features are SIZE // 4
LOW = SIZE // 4

TRANSFORMER_DECODER = dict(
    return_intermediate=True,
    num_layers=NUM_LAYERS,
    layer_cfg=dict(
        self_attn_cfg=dict(
            embed_dims=FEAT, num_heads=4, dropout=0.0, batch_first=True),
        cross_attn_cfg=dict(
            embed_dims=FEAT, num_heads=4, dropout=0.0, batch_first=True),
        ffn_cfg=dict(
            embed_dims=FEAT,
            feedforward_channels=64,
            num_fcs=2,
            ffn_drop=0.0,
            act_cfg=dict(type='ReLU', inplace=True))),
    init_cfg=None)

TRAIN_CFG = dict(
    num_points=256,
    oversample_ratio=3.0,
    importance_sample_ratio=0.75,
    assigner=dict(
        type='HungarianAssigner',
        match_costs=[
            dict(type='ClassificationCost', weight=2.0),
            dict(type='CrossEntropyLossCost', weight=5.0, use_sigmoid=True),
            dict(type='DiceCost', weight=5.0, pred_act=True, eps=1.0)
        ]),
    sampler=dict(type='MaskPseudoSampler'))

LOSS_CLS = dict(
    type='CrossEntropyLoss',
    use_sigmoid=False,
    loss_weight=2.0,
    reduction='mean',
    class_weight=[1.0, 0.1])


def build_head(tcm='default',
               num_queries=5,
               decoders=None,
               seed=0,
               loss_overlap=None):
    cfg = dict(
        type='MultiLevelDecoderHead',
        feat_channels=FEAT,
        out_channels=FEAT,
        num_queries=num_queries,
        transformer_decoder=copy.deepcopy(TRANSFORMER_DECODER),
        positional_encoding=dict(num_feats=FEAT // 2, normalize=True),
        train_cfg=copy.deepcopy(TRAIN_CFG),
        # these tests compare every block's prediction at inference
        test_cfg=dict(lean_inference=False))
    if decoders is not None:
        cfg['decoders'] = decoders
    if loss_overlap is not None:
        cfg['loss_overlap'] = loss_overlap
    if tcm is None:
        cfg['tcm'] = None
    elif tcm != 'default':
        cfg['tcm'] = tcm
    else:
        cfg['tcm'] = dict(
            type='TaskComplementarityModule',
            self_attn_cfg=dict(num_heads=4),
            ffn_cfg=dict(feedforward_channels=64))
    torch.manual_seed(seed)
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def features(batch_size=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask_features = torch.randn(batch_size, FEAT, LOW, LOW, generator=g)
    memorys = [
        torch.randn(batch_size, FEAT, SIZE // s, SIZE // s, generator=g)
        for s in (32, 16, 8)
    ]
    return mask_features, memorys


def box_masks(boxes, size=SIZE):
    masks = np.zeros((len(boxes), size, size), dtype=np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        masks[i, y1:y2, x1:x2] = 1
    return masks


def instances(boxes, size=SIZE):
    masks = box_masks(boxes, size)
    return InstanceData(
        masks=BitmapMasks(masks, size, size),
        labels=torch.zeros(len(boxes), dtype=torch.long),
        bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        ann_ids=torch.arange(len(boxes)))


def make_sample(supervision,
                entity_boxes=(),
                part_boxes=(),
                relation_boxes=(),
                prompt=None,
                valid=None,
                crowd_boxes=(),
                img_id=1,
                size=SIZE):
    sample = DetDataSample(
        metainfo=dict(
            img_id=img_id,
            img_shape=(size, size),
            ori_shape=(size, size),
            pad_shape=(size, size),
            batch_input_shape=(size, size),
            task=dict(
                sample_type=1,
                prompt_type='full',
                decoder='entity',
                supervision=supervision)))
    sample.gt_instances = instances(list(entity_boxes), size)
    sample.gt_part_instances = instances(list(part_boxes), size)
    sample.gt_relation_instances = instances(list(relation_boxes), size)
    sample.ignored_instances = instances(list(crowd_boxes), size)
    prompt_mask = torch.ones(1, size, size, dtype=torch.uint8)
    if prompt is not None:
        prompt_mask = torch.from_numpy(box_masks([prompt], size)[:1])
    sample.prompt_mask = PixelData(data=prompt_mask)
    valid_region = torch.ones(1, size, size, dtype=torch.bool)
    if valid is not None:
        valid_region = torch.from_numpy(box_masks([valid], size)[:1]).bool()
    sample.valid_region = PixelData(data=valid_region)
    return sample


def sup(decoder, level=None, exhaustive=True):
    return {decoder: dict(level=level or decoder, exhaustive=exhaustive)}


# ----------------------------------------------------------------------
# forward
# ----------------------------------------------------------------------
def test_forward_outputs():
    head = build_head(num_queries=dict(part=4, entity=5, relation=3))
    mask_features, memorys = features()
    outputs = head(mask_features, memorys, None)
    assert list(outputs) == ['part', 'entity', 'relation']
    for name, q in (('part', 4), ('entity', 5), ('relation', 3)):
        out = outputs[name]
        assert len(out.cls_scores) == NUM_LAYERS + 1
        assert len(out.mask_preds) == NUM_LAYERS + 1
        for cls, mask in zip(out.cls_scores, out.mask_preds):
            assert cls.shape == (2, q, 2)
            assert mask.shape == (2, q, LOW, LOW)
        assert out.query_feats.shape == (2, q, FEAT)
    # query_feats are the post-normed embeddings the last heads read
    entity = head.decoders['entity']
    torch.testing.assert_close(
        entity.cls_embed(outputs['entity'].query_feats),
        outputs['entity'].cls_scores[-1])
    # predict is forward without losses
    predicted = head.predict(mask_features, memorys, None)
    torch.testing.assert_close(predicted['part'].mask_preds[-1],
                               outputs['part'].mask_preds[-1])


def test_module_names_parallel_to_mask2former():
    head = build_head(tcm=None)
    keys = set(head.state_dict())
    for name in ('part', 'entity', 'relation'):
        for key in ('query_feat.weight', 'query_embed.weight',
                    'level_embed.weight', 'cls_embed.weight',
                    'mask_embed.0.weight',
                    'transformer_decoder.post_norm.weight',
                    'transformer_decoder.layers.0.cross_attn.attn.in_proj_'
                    'weight'):
            assert f'decoders.{name}.{key}' in keys
    assert not any(k.startswith('tcm_layers') for k in keys)
    with_tcm = build_head()
    tcm_keys = {
        k.split('.')[2]
        for k in with_tcm.state_dict() if k.startswith('tcm_layers')
    }
    assert tcm_keys == {'entity_part', 'relation_entity'}
    assert len(with_tcm.tcm_layers) == NUM_LAYERS


def test_bad_construction_and_inputs():
    with pytest.raises(ValueError, match='unknown level'):
        build_head(decoders=('part', 'object'))
    with pytest.raises(ValueError, match='one entry per decoder'):
        build_head(num_queries=dict(part=3, entity=3))
    with pytest.raises(ValueError, match='TCM pair'):
        build_head(decoders=('entity', 'relation'))
    head = build_head(tcm=None, decoders=('entity', ))
    mask_features, memorys = features()
    with pytest.raises(ValueError, match='multi_scale_memorys'):
        head(mask_features, memorys[:2])
    with pytest.raises(ValueError, match='mask_features'):
        head(mask_features[:, :8], memorys)


def _mask2former_cfg():
    return ConfigDict(
        in_channels=[8, 16, 32, 64],
        strides=[4, 8, 16, 32],
        feat_channels=FEAT,
        out_channels=FEAT,
        num_things_classes=1,
        num_stuff_classes=0,
        num_queries=5,
        num_transformer_feat_level=3,
        pixel_decoder=dict(
            type='MSDeformAttnPixelDecoder',
            num_outs=3,
            norm_cfg=dict(type='GN', num_groups=8),
            act_cfg=dict(type='ReLU'),
            encoder=dict(
                num_layers=1,
                layer_cfg=dict(
                    self_attn_cfg=dict(
                        embed_dims=FEAT,
                        num_heads=4,
                        num_levels=3,
                        num_points=2,
                        im2col_step=64,
                        dropout=0.0,
                        batch_first=True,
                        norm_cfg=None,
                        init_cfg=None),
                    ffn_cfg=dict(
                        embed_dims=FEAT,
                        feedforward_channels=64,
                        num_fcs=2,
                        ffn_drop=0.0,
                        act_cfg=dict(type='ReLU', inplace=True))),
                init_cfg=None),
            positional_encoding=dict(num_feats=FEAT // 2, normalize=True),
            init_cfg=None),
        enforce_decoder_input_project=False,
        positional_encoding=dict(num_feats=FEAT // 2, normalize=True),
        transformer_decoder=copy.deepcopy(TRANSFORMER_DECODER),
        loss_cls=LOSS_CLS,
        loss_mask=dict(
            type='CrossEntropyLoss',
            use_sigmoid=True,
            reduction='mean',
            loss_weight=5.0),
        loss_dice=dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            reduction='mean',
            naive_dice=True,
            eps=1.0,
            loss_weight=5.0),
        train_cfg=copy.deepcopy(TRAIN_CFG))


def _mask2former_and_ours(converter):
    torch.manual_seed(1)
    m2f = Mask2FormerHead(**_mask2former_cfg())
    m2f.init_weights()
    head = build_head(tcm=None, seed=2)
    converted = converter.convert_mask2former_state_dict(
        m2f.state_dict(),
        src_prefix='',
        dst_prefix='',
        dst_pixel_decoder_prefix='pixel_decoder.')
    decoder_state = {
        k: v
        for k, v in converted.items() if not k.startswith('pixel_decoder.')
    }
    missing, unexpected = head.load_state_dict(decoder_state, strict=False)
    assert not unexpected
    assert missing and all(
        k.startswith(('decoders.part.', 'decoders.relation.'))
        for k in missing)
    g = torch.Generator().manual_seed(3)
    x = [
        torch.randn(2, c, SIZE // s, SIZE // s, generator=g)
        for c, s in zip([8, 16, 32, 64], [4, 8, 16, 32])
    ]
    return m2f, head, x


def test_entity_branch_equals_mask2former_head(load_tool):
    """Issue 5 acceptance: TCM off, same weights, same input."""
    m2f, head, x = _mask2former_and_ours(load_tool(M2F_CONVERTER))
    m2f.eval()
    head.eval()
    samples = [make_sample(sup('entity')) for _ in range(2)]
    with torch.no_grad():
        ref_cls, ref_masks = m2f(x, samples)
        mask_features, memorys = m2f.pixel_decoder(x)
        outputs = head(mask_features, memorys, samples)
    ours = outputs['entity']
    assert len(ref_cls) == len(ours.cls_scores) == NUM_LAYERS + 1
    for block in range(NUM_LAYERS + 1):
        assert (ref_cls[block] - ours.cls_scores[block]).abs().max() < 1e-5
        assert (ref_masks[block] -
                ours.mask_preds[block]).abs().max() < 1e-5
    # and the other decoders really are different networks
    assert (outputs['part'].mask_preds[-1] -
            ref_masks[-1]).abs().max() > 1e-3


def test_entity_losses_equal_mask2former_losses(load_tool):
    """Full prompt, fully valid, exhaustive: mmdet's loss, key for key."""
    m2f, head, x = _mask2former_and_ours(load_tool(M2F_CONVERTER))
    samples = [
        make_sample(
            sup('entity'), entity_boxes=[(0, 0, 20, 30), (30, 10, 60, 60)]),
        make_sample(sup('entity'), entity_boxes=[(5, 5, 40, 40)], img_id=2)
    ]
    torch.manual_seed(4)
    ref = m2f.loss(x, samples)
    mask_features, memorys = m2f.pixel_decoder(x)
    torch.manual_seed(4)
    losses, _, assignments = head.loss(mask_features, memorys, samples)
    assert len(ref) == 3 * (NUM_LAYERS + 1)
    for key, value in ref.items():
        # mmdet's mask losses have shape (1, ), ours are scalars
        torch.testing.assert_close(
            losses[f'entity.{key}'], value.reshape(()), rtol=1e-5, atol=1e-6)
    assert assignments['part'] == [None, None]
    assert [len(a[0]) for a in assignments['entity']] == [2, 1]


# ----------------------------------------------------------------------
# task complementarity
# ----------------------------------------------------------------------
def _perturb_part_queries(head):
    with torch.no_grad():
        head.decoders['part'].query_feat.weight.add_(1.0)


def test_decoders_independent_without_tcm():
    head = build_head(tcm=None).eval()
    mask_features, memorys = features()
    with torch.no_grad():
        before = head(mask_features, memorys)
        _perturb_part_queries(head)
        after = head(mask_features, memorys)
    assert not torch.allclose(before['part'].mask_preds[-1],
                              after['part'].mask_preds[-1])
    for name in ('entity', 'relation'):
        for block in range(NUM_LAYERS + 1):
            torch.testing.assert_close(before[name].mask_preds[block],
                                       after[name].mask_preds[block])
            torch.testing.assert_close(before[name].cls_scores[block],
                                       after[name].cls_scores[block])


def test_decoders_interact_with_tcm():
    head = build_head().eval()
    mask_features, memorys = features()
    with torch.no_grad():
        before = head(mask_features, memorys)
        _perturb_part_queries(head)
        after = head(mask_features, memorys)
    # block 0 predicts from the initial queries: no exchange yet
    torch.testing.assert_close(before['entity'].mask_preds[0],
                               after['entity'].mask_preds[0])
    # part -> entity through the E-P module, entity -> relation through R-E
    for name in ('entity', 'relation'):
        assert not torch.allclose(before[name].mask_preds[1],
                                  after[name].mask_preds[1])
        assert not torch.allclose(before[name].query_feats,
                                  after[name].query_feats)


def test_tcm_switches_reach_the_head():
    cfgs = [
        dict(with_self_attn=True, with_ffn=False, with_add=False),
        dict(with_self_attn=True, with_ffn=True, with_add=False),
        dict(with_self_attn=True, with_ffn=True, with_add=True)
    ]
    mask_features, memorys = features()
    results = []
    for switches in cfgs:
        head = build_head(
            tcm=dict(
                type='TaskComplementarityModule',
                self_attn_cfg=dict(num_heads=4),
                ffn_cfg=dict(feedforward_channels=64),
                **switches)).eval()
        tcm = head.tcm_layers[0]['entity_part']
        assert (tcm.with_self_attn, tcm.with_ffn,
                tcm.with_add) == tuple(switches.values())
        with torch.no_grad():
            results.append(head(mask_features, memorys)['entity'])
    for a, b in ((0, 1), (1, 2), (0, 2)):
        assert not torch.allclose(results[a].mask_preds[-1],
                                  results[b].mask_preds[-1])


# ----------------------------------------------------------------------
# losses
# ----------------------------------------------------------------------
def _loss_keys(decoder):
    keys = {f'{decoder}.loss_{n}' for n in ('cls', 'mask', 'dice')}
    for i in range(NUM_LAYERS):
        keys |= {f'{decoder}.d{i}.loss_{n}' for n in ('cls', 'mask', 'dice')}
    return keys


def test_loss_keys_and_positive_losses():
    head = build_head()
    mask_features, memorys = features()
    samples = [
        make_sample(
            dict(
                entity=dict(level='entity', exhaustive=True),
                part=dict(level='part', exhaustive=True)),
            entity_boxes=[(0, 0, 32, 32), (32, 32, 64, 64)],
            part_boxes=[(0, 0, 16, 32)]),
        make_sample(
            sup('relation'), relation_boxes=[(8, 8, 56, 40)], img_id=2)
    ]
    losses, outputs, assignments = head.loss(mask_features, memorys, samples)
    assert set(losses) == (
        _loss_keys('part') | _loss_keys('entity')
        | _loss_keys('relation'))
    for key, value in losses.items():
        assert value.dim() == 0 and value.item() > 0, key
    assert set(outputs) == {'part', 'entity', 'relation'}
    assert assignments['entity'][1] is None
    assert assignments['relation'][0] is None
    query_inds, gt_inds = assignments['entity'][0]
    assert query_inds.dtype == gt_inds.dtype == torch.long
    assert sorted(gt_inds.tolist()) == [0, 1]
    assert len(set(query_inds.tolist())) == 2
    assert assignments['part'][0][1].tolist() == [0]
    assert assignments['relation'][1][1].tolist() == [0]
    sum(losses.values()).backward()
    for name, p in head.named_parameters():
        assert p.grad is not None, name


def test_empty_gt_zero_mask_losses_connected_graph():
    head = build_head()
    mask_features, memorys = features()
    samples = [make_sample(sup('entity')), make_sample(sup('entity'))]
    losses, _, assignments = head.loss(mask_features, memorys, samples)
    for key in _loss_keys('entity'):
        if 'loss_cls' in key:
            assert losses[key].item() > 0, key
        else:
            assert losses[key].item() == 0, key
            assert losses[key].requires_grad, key
    assert all(len(q) == 0 for q, _ in assignments['entity'])
    sum(losses[k] for k in _loss_keys('entity')).backward()
    entity = head.decoders['entity']
    assert entity.query_feat.weight.grad.abs().sum() > 0
    assert entity.query_embed.weight.grad.abs().sum() > 0


def test_unsupervised_decoder_zero_but_connected():
    head = build_head()
    mask_features, memorys = features()
    samples = [
        make_sample(sup('entity'), entity_boxes=[(0, 0, 30, 30)]),
        make_sample(sup('entity'), entity_boxes=[(10, 10, 50, 50)])
    ]
    losses, _, assignments = head.loss(mask_features, memorys, samples)
    assert assignments['part'] == [None, None]
    for key in _loss_keys('part') | _loss_keys('relation'):
        assert losses[key].item() == 0 and losses[key].grad_fn is not None
    head.zero_grad()
    sum(losses[k] for k in _loss_keys('part')).backward()
    grad = head.decoders['part'].query_feat.weight.grad
    assert grad is not None and grad.abs().sum() == 0


def test_image_not_supervising_a_decoder_adds_nothing():
    head = build_head(tcm=None)
    mask_features, memorys = features()
    outputs = head(mask_features, memorys)
    entity_sample = make_sample(sup('entity'), entity_boxes=[(0, 0, 30, 30)])
    other = make_sample(
        sup('part'),
        entity_boxes=[(10, 10, 60, 60)],
        part_boxes=[(0, 0, 8, 8)],
        img_id=2)
    cls, masks = outputs['entity'].cls_scores, outputs['entity'].mask_preds
    torch.manual_seed(5)
    both, assign_both = head.loss_by_feat(cls, masks, [entity_sample, other],
                                          'entity')
    torch.manual_seed(5)
    alone, assign_alone = head.loss_by_feat([c[:1] for c in cls],
                                            [m[:1] for m in masks],
                                            [entity_sample], 'entity')
    assert assign_both[1] is None
    for key in alone:
        torch.testing.assert_close(both[key], alone[key])
    torch.testing.assert_close(assign_both[0][0], assign_alone[0][0])


def test_non_exhaustive_supervision_skips_unmatched_queries():
    head = build_head()
    mask_features, memorys = features(batch_size=1)
    outputs = head(mask_features, memorys)
    cls, masks = outputs['entity'].cls_scores, outputs['entity'].mask_preds
    boxes = [(0, 0, 30, 30), (34, 34, 60, 60)]
    results = {}
    for exhaustive in (True, False):
        samples = [
            make_sample(
                sup('entity', exhaustive=exhaustive), entity_boxes=boxes)
        ]
        torch.manual_seed(6)
        results[exhaustive] = head.loss_by_feat(cls, masks, samples, 'entity')
    (exh, exh_assign), (part, part_assign) = results[True], results[False]
    query_inds = part_assign[0][0]
    torch.testing.assert_close(query_inds, exh_assign[0][0])
    assert len(query_inds) == 2
    # mask losses do not depend on the flag
    torch.testing.assert_close(part['entity.loss_mask'],
                               exh['entity.loss_mask'])
    torch.testing.assert_close(part['entity.loss_dice'],
                               exh['entity.loss_dice'])
    # class loss: only the matched queries, all labelled "object"
    last = cls[-1][0]
    expected = 2.0 * F.cross_entropy(last[query_inds],
                                     torch.zeros(2, dtype=torch.long))
    torch.testing.assert_close(part['entity.loss_cls'], expected)
    # exhaustive: every query, unmatched ones pushed to "no object"
    labels = torch.ones(last.shape[0], dtype=torch.long)
    labels[query_inds] = 0
    weights = torch.tensor([1.0, 0.1])
    expected_exh = 2.0 * F.cross_entropy(last, labels, weight=weights)
    torch.testing.assert_close(exh['entity.loss_cls'], expected_exh)
    assert not torch.allclose(exh['entity.loss_cls'], part['entity.loss_cls'])


def _dilated(region_low):
    return F.max_pool2d(
        region_low[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0


@pytest.mark.parametrize('kind', ['prompt', 'valid', 'crowd'])
def test_pixels_outside_loss_region_do_not_count(kind):
    head = build_head(tcm=None, decoders=('entity', ))
    boxes = [(4, 4, 20, 28), (20, 2, 30, 12)]
    kwargs = dict(entity_boxes=boxes)
    region = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    if kind == 'prompt':
        kwargs['prompt'] = (0, 0, 32, 32)
        region[:32, :32] = True
    elif kind == 'valid':
        kwargs['valid'] = (0, 0, 32, 48)
        region[:48, :32] = True
    else:
        kwargs['crowd_boxes'] = [(32, 24, 64, 64)]
        region[:] = True
        region[24:, 32:] = False
    samples = [make_sample(sup('entity'), **kwargs)]
    g = torch.Generator().manual_seed(7)
    num_blocks = 2
    cls = [torch.randn(1, 5, 2, generator=g) for _ in range(num_blocks)]
    masks = [
        torch.randn(1, 5, LOW, LOW, generator=g) * 3 for _ in range(num_blocks)
    ]
    region_low = F.interpolate(
        region[None, None].float(), size=(LOW, LOW), mode='area')[0, 0] > 0
    outside = ~_dilated(region_low)
    assert outside.any()

    def losses_for(mask_preds):
        torch.manual_seed(8)
        return head.loss_by_feat(cls, mask_preds, samples, 'entity')

    ref, ref_assign = losses_for(masks)
    assert ref['entity.loss_mask'] > 0 and ref['entity.loss_dice'] > 0
    changed = [
        torch.where(outside, m + 10 * torch.randn(m.shape, generator=g), m)
        for m in masks
    ]
    out, out_assign = losses_for(changed)
    for key in ref:
        torch.testing.assert_close(out[key], ref[key], rtol=0, atol=0)
    torch.testing.assert_close(out_assign[0][0], ref_assign[0][0])
    # the same change inside the region does move the mask losses
    inside = region_low & ~_dilated(~region_low)
    changed_in = [
        torch.where(inside, m + 10 * torch.randn(m.shape, generator=g), m)
        for m in masks
    ]
    moved, _ = losses_for(changed_in)
    assert moved['entity.loss_mask'] != ref['entity.loss_mask']
    assert moved['entity.loss_dice'] != ref['entity.loss_dice']


@pytest.mark.parametrize('unannotated', ['ignore', 'background'])
@pytest.mark.parametrize('prompt_type', ['full', 'partial'])
def test_unannotated_pixels_ignored_or_background(unannotated, prompt_type):
    """train_cfg.unannotated: outside valid_region, 'ignore' leaves pixels
    out of the loss region; 'background' (the paper's baseline) keeps them
    in it on full-image samples only, where they count as background."""
    head = build_head(tcm=None, decoders=('entity', ))
    head.unannotated = unannotated
    sample = make_sample(
        sup('entity'),
        entity_boxes=[(4, 4, 20, 28)],
        valid=(0, 0, 32, 64),
        crowd_boxes=[(40, 40, 48, 48)])
    sample.set_metainfo(dict(task=dict(sample.task, prompt_type=prompt_type)))
    region = head.get_decoder_targets(sample, 'entity',
                                      torch.device('cpu'))['region']
    expected = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    if unannotated == 'background' and prompt_type == 'full':
        expected[:] = True
    else:
        expected[:, :32] = True
    expected[40:48, 40:48] = False  # crowd stays ignored either way
    torch.testing.assert_close(region, expected)


def test_loss_region_of_a_rough_prompt_replaces_the_prompt():
    """A roughened prompt's ``loss_region`` is where the losses count, not
    the (rough) prompt: the true children it missed stay supervised."""
    head = build_head(tcm=None, decoders=('entity', ))
    sample = make_sample(
        sup('entity'),
        entity_boxes=[(4, 4, 20, 28)],
        prompt=(8, 8, 16, 16),  # an eroded prompt of the entity
        valid=(0, 0, 48, 64))
    sample.set_metainfo(dict(task=dict(sample.task, prompt_type='partial')))
    device = torch.device('cpu')
    region = head.get_decoder_targets(sample, 'entity', device)['region']
    assert region.sum() == 8 * 8  # without loss_region: the prompt
    loss_region = torch.zeros(1, SIZE, SIZE, dtype=torch.bool)
    loss_region[0, 4:28, 4:20] = True  # exact | rough
    sample.loss_region = PixelData(data=loss_region)
    region = head.get_decoder_targets(sample, 'entity', device)['region']
    torch.testing.assert_close(region, loss_region[0])


def test_unannotated_mode_is_checked():
    cfg = dict(copy.deepcopy(TRAIN_CFG), unannotated='void')
    with pytest.raises(ValueError, match='unannotated'):
        MODELS.build(
            dict(
                type='MultiLevelDecoderHead',
                feat_channels=FEAT,
                out_channels=FEAT,
                transformer_decoder=copy.deepcopy(TRANSFORMER_DECODER),
                positional_encoding=dict(num_feats=FEAT // 2),
                train_cfg=cfg))


def test_bad_samples_raise_clear_errors():
    head = build_head(tcm=None, decoders=('entity', ))
    mask_features, memorys = features(batch_size=1)
    outputs = head(mask_features, memorys)
    cls, masks = outputs['entity'].cls_scores, outputs['entity'].mask_preds
    sample = make_sample(sup('entity'), img_id=42)
    sample.set_metainfo(dict(task=dict(prompt_type='full')))
    with pytest.raises(KeyError, match='image 42.*supervision'):
        head.loss_by_feat(cls, masks, [sample], 'entity')
    sample = make_sample(sup('part'), img_id=43)
    with pytest.raises(KeyError, match='image 43.*part'):
        head.loss_by_feat(cls, masks, [sample], 'entity')
    sample = make_sample(
        sup('entity'), entity_boxes=[(0, 0, 8, 8)], img_id=44, size=32)
    sample.set_metainfo(dict(batch_input_shape=(SIZE, SIZE)))
    with pytest.raises(ValueError, match='image 44.*padded'):
        head.loss_by_feat(cls, masks, [sample], 'entity')
    sample = make_sample(sup('entity', level='relation'), img_id=45)
    del sample.gt_relation_instances
    with pytest.raises(KeyError, match='image 45.*gt_relation_instances'):
        head.loss_by_feat(cls, masks, [sample], 'entity')
    no_train = MODELS.build(
        dict(
            type='MultiLevelDecoderHead',
            feat_channels=FEAT,
            out_channels=FEAT,
            decoders=('entity', ),
            tcm=None,
            transformer_decoder=copy.deepcopy(TRANSFORMER_DECODER)))
    with pytest.raises(RuntimeError, match='train_cfg'):
        no_train.loss_by_feat(cls, masks, [make_sample(sup('entity'))],
                              'entity')


# ----------------------------------------------------------------------
# checkpoint conversion
# ----------------------------------------------------------------------
def test_same_collective_calls_with_and_without_supervision(monkeypatch):
    """Under DDP every rank must all-reduce the mask count the same number
    of times, whether or not its images supervise the decoder."""
    import mmaims.models.dense_heads.multi_level_decoder_head as module
    calls = []

    def counting_reduce_mean(tensor):
        calls.append(float(tensor))
        return tensor

    monkeypatch.setattr(module, 'reduce_mean', counting_reduce_mean)
    head = build_head(tcm=None, decoders=('entity', ))
    mask_features, memorys = features(batch_size=1)
    outputs = head(mask_features, memorys)['entity']
    for sample in (make_sample(sup('entity'), entity_boxes=[(0, 0, 9, 9)]),
                   make_sample(sup('entity')),
                   make_sample(sup('entity', exhaustive=False))):
        calls.clear()
        head.loss_by_feat(outputs.cls_scores, outputs.mask_preds,
                          [sample], 'entity')
        assert len(calls) == NUM_LAYERS + 1
    # an image that does not supervise the entity decoder: count 0
    calls.clear()
    head_all = build_head(tcm=None)
    outputs = head_all(*features(batch_size=1))['entity']
    head_all.loss_by_feat(outputs.cls_scores, outputs.mask_preds,
                          [make_sample(sup('part'))], 'entity')
    assert calls == [0.0] * (NUM_LAYERS + 1)


def test_degenerate_supervision_gives_finite_losses():
    head = build_head(tcm=None, decoders=('entity', ))
    mask_features, memorys = features(batch_size=1)
    outputs = head(mask_features, memorys)['entity']
    # non-exhaustive and nothing annotated: nothing to learn, no NaN
    losses, _ = head.loss_by_feat(
        outputs.cls_scores, outputs.mask_preds,
        [make_sample(sup('entity', exhaustive=False))], 'entity')
    for key, value in losses.items():
        assert value.item() == 0 and value.requires_grad, key
    # a loss region without any pixel: mask losses vanish, class loss stays
    sample = make_sample(sup('entity'), entity_boxes=[(0, 0, 16, 16)])
    sample.prompt_mask = PixelData(
        data=torch.zeros(1, SIZE, SIZE, dtype=torch.uint8))
    losses, assignments = head.loss_by_feat(outputs.cls_scores,
                                            outputs.mask_preds, [sample],
                                            'entity')
    assert len(assignments[0][0]) == 1
    assert losses['entity.loss_cls'].item() > 0
    assert losses['entity.loss_mask'].item() == 0
    assert losses['entity.loss_dice'].item() == 0


# ----------------------------------------------------------------------
# overlap suppression (loss_overlap)
# ----------------------------------------------------------------------
OVERLAP = dict(type='OverlapSuppressionLoss', loss_weight=2.0)
# boxes on the 4-pixel grid, so that their masks on the LOW x LOW grid of
# the predictions are exact
ENTITY_BOXES = [(0, 0, 32, 32), (32, 0, 64, 32), (0, 32, 64, 64)]
PART_BOXES = [(0, 0, 16, 32), (16, 0, 32, 32)]


def _low_res(boxes):
    masks = torch.zeros(len(boxes), LOW, LOW, dtype=torch.bool)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        masks[i, y1 // 4:y2 // 4, x1 // 4:x2 // 4] = True
    return masks


def _entity_part_sample(exhaustive=True, img_id=1, **kwargs):
    return make_sample(
        dict(
            entity=dict(level='entity', exhaustive=exhaustive),
            part=dict(level='part', exhaustive=exhaustive),
            relation=dict(level='relation', exhaustive=True)),
        entity_boxes=ENTITY_BOXES,
        part_boxes=PART_BOXES,
        relation_boxes=[(0, 0, 64, 32), (0, 0, 32, 64)],
        img_id=img_id,
        **kwargs)


def test_overlap_loss_off_by_default_losses_unchanged():
    """loss_overlap=None (the default) is AIMS as before: no new key, and
    switching it on adds its keys without changing any other loss."""
    mask_features, memorys = features()
    samples = [
        _entity_part_sample(),
        _entity_part_sample(exhaustive=False, img_id=2)
    ]
    results = {}
    for name, overlap in (('off', None), ('on', OVERLAP)):
        head = build_head(loss_overlap=overlap)
        torch.manual_seed(11)
        results[name] = head.loss(mask_features, memorys, samples)
    off, on = results['off'][0], results['on'][0]
    assert set(off) == (
        _loss_keys('part') | _loss_keys('entity') | _loss_keys('relation'))
    assert set(on) == set(off) | {'entity.loss_overlap', 'part.loss_overlap'}
    for key in off:
        torch.testing.assert_close(on[key], off[key], rtol=0, atol=0)
    for decoder in ('part', 'entity', 'relation'):
        for (q_on, g_on), (q_off, g_off) in zip(results['on'][2][decoder],
                                                results['off'][2][decoder]):
            assert q_on.tolist() == q_off.tolist()
            assert g_on.tolist() == g_off.tolist()
    head = build_head()
    assert head.loss_overlap is None and head.overlap_levels == ()


def test_overlap_loss_is_the_softmax_dice_of_the_matched_queries():
    head = build_head(tcm=None, loss_overlap=OVERLAP)
    assert head.overlap_levels == ('entity', 'part')
    mask_features, memorys = features(batch_size=1)
    samples = [_entity_part_sample()]
    torch.manual_seed(12)
    losses, outputs, assignments = head.loss(mask_features, memorys, samples)
    assert 'relation.loss_overlap' not in losses
    assert not any('d0.loss_overlap' in k for k in losses)  # last block only
    reference = MODELS.build(OVERLAP)
    for decoder, boxes in (('entity', ENTITY_BOXES), ('part', PART_BOXES)):
        query_inds, gt_inds = assignments[decoder][0]
        assert sorted(gt_inds.tolist()) == list(range(len(boxes)))
        # the clusters: one matched query per target, last block
        clusters = outputs[decoder].mask_preds[-1][0, query_inds]
        expected = reference(clusters, _low_res(boxes)[gt_inds])
        key = f'{decoder}.loss_overlap'
        assert losses[key].item() > 0
        torch.testing.assert_close(losses[key], expected)
    losses['entity.loss_overlap'].backward()
    entity = head.decoders['entity']
    assert entity.query_feat.weight.grad.abs().sum() > 0
    assert head.decoders['relation'].query_feat.weight.grad is None


def test_overlap_loss_only_on_exhaustive_samples():
    head = build_head(loss_overlap=OVERLAP)
    mask_features, memorys = features()
    outputs = head(mask_features, memorys)
    cls, masks = outputs['entity'].cls_scores, outputs['entity'].mask_preds
    # non-exhaustive only: a zero that stays in the graph
    partial = [
        _entity_part_sample(exhaustive=False),
        _entity_part_sample(exhaustive=False, img_id=2)
    ]
    losses, _ = head.loss_by_feat(cls, masks, partial, 'entity')
    assert losses['entity.loss_overlap'].item() == 0
    assert losses['entity.loss_overlap'].requires_grad
    assert losses['entity.loss_dice'].item() > 0
    # no image supervises the decoder: a zero too
    losses, _ = head.loss_by_feat(cls, masks, [make_sample(sup('part'))] * 2,
                                  'entity')
    assert losses['entity.loss_overlap'].item() == 0
    assert losses['entity.loss_overlap'].requires_grad
    # a decoder matched to relation targets (overlapping by design): none
    relation_targets = make_sample(
        sup('entity', level='relation'),
        relation_boxes=[(0, 0, 64, 32), (0, 0, 32, 64)])
    losses, _ = head.loss_by_feat(cls, masks, [relation_targets] * 2,
                                  'entity')
    assert losses['entity.loss_overlap'].item() == 0
    assert losses['entity.loss_dice'].item() > 0
    # mixed batch: the exhaustive image alone, averaged over its clusters
    mixed = [
        _entity_part_sample(exhaustive=False),
        _entity_part_sample(img_id=2)
    ]
    losses, assignments = head.loss_by_feat(cls, masks, mixed, 'entity')
    query_inds, gt_inds = assignments[1]
    expected = MODELS.build(OVERLAP)(masks[-1][1, query_inds],
                                     _low_res(ENTITY_BOXES)[gt_inds])
    torch.testing.assert_close(losses['entity.loss_overlap'], expected)


def test_overlap_loss_ignores_pixels_outside_the_loss_region():
    head = build_head(tcm=None, decoders=('entity', ), loss_overlap=OVERLAP)
    samples = [
        make_sample(
            sup('entity'), entity_boxes=ENTITY_BOXES, valid=(0, 0, 64, 32))
    ]
    region_low = torch.zeros(LOW, LOW, dtype=torch.bool)
    region_low[:8] = True
    outside = ~_dilated(region_low)
    g = torch.Generator().manual_seed(13)
    cls = [torch.randn(1, 5, 2, generator=g) for _ in range(2)]
    masks = [torch.randn(1, 5, LOW, LOW, generator=g) * 3 for _ in range(2)]

    def overlap_for(mask_preds):
        torch.manual_seed(14)
        losses, assignments = head.loss_by_feat(cls, mask_preds, samples,
                                                'entity')
        return losses['entity.loss_overlap'], assignments[0]

    ref, (query_inds, gt_inds) = overlap_for(masks)
    assert ref.item() > 0
    # the third entity lies outside the valid region: its cluster is empty
    expected = MODELS.build(OVERLAP)(masks[-1][0, query_inds],
                                     _low_res(ENTITY_BOXES)[gt_inds],
                                     region_low)
    torch.testing.assert_close(ref, expected)
    changed = [
        torch.where(outside, m + 10 * torch.randn(m.shape, generator=g), m)
        for m in masks
    ]
    out, _ = overlap_for(changed)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    inside = region_low & ~_dilated(~region_low)
    changed_in = [
        torch.where(inside, m + 10 * torch.randn(m.shape, generator=g), m)
        for m in masks
    ]
    assert overlap_for(changed_in)[0] != ref


def test_overlap_loss_never_on_relation_and_checked_levels():
    with pytest.raises(ValueError, match='relation decoder'):
        build_head(loss_overlap=dict(OVERLAP, levels=('entity', 'relation')))
    with pytest.raises(ValueError, match='relation decoder'):
        build_head(loss_overlap=dict(OVERLAP, levels='relation'))
    with pytest.raises(ValueError, match="'part' is not a decoder"):
        build_head(
            tcm=None,
            decoders=('entity', ),
            loss_overlap=dict(OVERLAP, levels=('entity', 'part')))
    with pytest.raises(ValueError, match='unknown level'):
        build_head(loss_overlap=dict(OVERLAP, levels=('object', )))
    with pytest.raises(ValueError, match='no entity or part decoder'):
        build_head(tcm=None, decoders=('relation', ), loss_overlap=OVERLAP)
    head = build_head(loss_overlap=dict(OVERLAP, levels=['part']))
    assert head.overlap_levels == ('part', )
    mask_features, memorys = features(batch_size=1)
    losses, _, _ = head.loss(mask_features, memorys, [_entity_part_sample()])
    assert [k for k in losses if 'overlap' in k] == ['part.loss_overlap']


def test_overlap_loss_joins_one_more_collective_call(monkeypatch):
    import mmaims.models.dense_heads.multi_level_decoder_head as module
    calls = []

    def counting_reduce_mean(tensor):
        calls.append(float(tensor))
        return tensor

    monkeypatch.setattr(module, 'reduce_mean', counting_reduce_mean)
    head = build_head(loss_overlap=OVERLAP)
    outputs = head(*features(batch_size=1))['entity']
    for sample in (_entity_part_sample(),
                   _entity_part_sample(exhaustive=False),
                   make_sample(sup('part'))):
        calls.clear()
        head.loss_by_feat(outputs.cls_scores, outputs.mask_preds, [sample],
                          'entity')
        assert len(calls) == NUM_LAYERS + 2
    assert calls[-1] == 0.0
