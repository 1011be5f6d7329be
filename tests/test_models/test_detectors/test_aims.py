# Copyright (c) mmaims contributors. All rights reserved.
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmcv.ops import MultiScaleDeformableAttention
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config, ConfigDict
from mmengine.structures import InstanceData, PixelData

from mmaims.registry import MODELS
from mmaims.structures import decode_rle, encode_mask
from mmaims.utils import register_all_modules

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
BASE_MODEL = osp.join(REPO, 'configs', '_base_', 'models', 'aims_r50.py')
TINY_CONFIG = osp.join(REPO, 'tests', 'data', 'configs', 'aims_tiny.py')
C = 32  # feat channels of the tiny model

register_all_modules()


def tiny_model_cfg(mpe=True, tcm=True, am=True, rough_flag=False):
    """The tiny test model (tests/data/configs/aims_tiny.py, the main job's
    small recipe shrunk) with the three modules switched as asked."""
    cfg = Config.fromfile(TINY_CONFIG).model
    if rough_flag:
        cfg.prompt_encoder.rough_flag = True
    if not tcm:
        cfg.decode_head.tcm = None
    if not mpe:
        cfg.prompt_encoder = None
    if not am:
        cfg.association_head = None
    return cfg


def build(init=True, **kwargs):
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(**kwargs))
    if init:
        model.init_weights()
    return model


def _instances(masks, **extra):
    masks = np.asarray(masks, dtype=np.uint8).reshape(-1, *masks.shape[-2:])
    n, h, w = masks.shape
    bboxes = torch.zeros(n, 4)
    for i, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        if len(xs):
            bboxes[i] = torch.tensor(
                [xs.min(), ys.min(),
                 xs.max() + 1, ys.max() + 1],
                dtype=torch.float32)
    return InstanceData(
        masks=BitmapMasks(masks, h, w),
        bboxes=bboxes,
        labels=torch.zeros(n, dtype=torch.long),
        ann_ids=torch.arange(n, dtype=torch.long),
        **extra)


def _box(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), dtype=np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


def train_sample(h=64, w=64, img_id=1, empty=False, prompt=None):
    """A sample supervising all three decoders, as PackAIMSInputs makes."""
    if empty:
        ent = np.zeros((0, h, w), np.uint8)
        parts = np.zeros((0, h, w), np.uint8)
        rels = np.zeros((0, h, w), np.uint8)
        part_parent = torch.zeros(0, dtype=torch.long)
        rel_pairs = torch.zeros((0, 2), dtype=torch.long)
    else:
        ent = np.stack([
            _box(h, w, 4, 30, 4, 30),
            _box(h, w, 30, 60, 6, 40),
            _box(h, w, 10, 50, 44, 62)
        ])
        parts = np.stack([
            _box(h, w, 4, 15, 4, 30),
            _box(h, w, 15, 30, 4, 30),
            _box(h, w, 30, 60, 6, 20)
        ])
        rels = np.maximum(ent[0], ent[1])[None]
        part_parent = torch.tensor([0, 0, 1])
        rel_pairs = torch.tensor([[0, 1]])
    sample = DetDataSample(
        metainfo=dict(
            img_id=img_id,
            img_shape=(h, w),
            ori_shape=(h, w),
            scale_factor=(1.0, 1.0),
            levels=['part', 'entity', 'relation'],
            source='toy',
            task=dict(
                sample_type=0,
                prompt_type='full',
                decoder='entity',
                supervision={
                    lvl: dict(level=lvl, exhaustive=True)
                    for lvl in ('part', 'entity', 'relation')
                })))
    sample.gt_instances = _instances(ent)
    sample.gt_part_instances = _instances(parts, entity_index=part_parent)
    sample.gt_relation_instances = _instances(rels, entity_index=rel_pairs)
    for field in ('ignored_instances', 'ignored_part_instances',
                  'ignored_relation_instances'):
        sample.set_field(_instances(np.zeros((0, h, w), np.uint8)), field)
    if prompt is None:
        prompt = np.ones((h, w), np.uint8)
    sample.prompt_mask = PixelData(data=torch.from_numpy(prompt)[None])
    sample.valid_region = PixelData(data=torch.ones(1, h, w, dtype=torch.bool))
    return sample


def preprocess(model, samples, training, sizes=None):
    torch.manual_seed(1)
    inputs = []
    for i, sample in enumerate(samples):
        h, w = sizes[i] if sizes else sample.img_shape
        inputs.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8))
    return model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), training)


def test_loss_contract_full_model_every_parameter_gets_a_gradient():
    # PyTorch's default init, as after some training: mmdet's init zeroes
    # the last BN of every ResNet block and mmcv's deformable attention
    # zeroes its offset and attention-weight projections (in its
    # constructor), which makes some gradients exactly 0 at step 0
    model = build(init=False)
    for module in model.modules():
        if isinstance(module, MultiScaleDeformableAttention):
            torch.nn.init.normal_(module.sampling_offsets.weight, std=0.01)
            torch.nn.init.normal_(module.attention_weights.weight, std=0.01)
    model.train()
    partial = np.zeros((64, 64), np.uint8)
    partial[:40] = 1
    data = preprocess(
        model,
        [train_sample(img_id=1),
         train_sample(img_id=2, prompt=partial)], True)
    losses = model(**data, mode='loss')
    keys = set(losses)
    for dec in ('part', 'entity', 'relation'):
        assert {f'{dec}.loss_cls', f'{dec}.loss_mask',
                f'{dec}.loss_dice'} <= keys
        assert f'{dec}.d2.loss_dice' in keys
    assert {'entity_part.loss_assoc', 'relation_entity.loss_assoc'} <= keys
    for name, value in losses.items():
        if 'loss' in name:  # link_recall is a diagnostic, may be 0
            assert value.item() > 0, name
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    no_grad = [
        name for name, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)
    ]
    assert not no_grad, no_grad


def test_loss_empty_gt_mask_losses_zero_graph_connected():
    model = build()
    model.train()
    data = preprocess(model, [train_sample(empty=True)], True)
    losses = model(**data, mode='loss')
    for name, value in losses.items():
        if 'loss_mask' in name or 'loss_dice' in name:
            assert value.item() == 0, name
        else:
            # exhaustive annotation: every query is pushed to "no object"
            # and every query pair to "not linked"
            assert value.item() > 0, name
    sum(losses.values()).backward()
    disconnected = [
        name for name, p in model.named_parameters()
        if p.requires_grad and p.grad is None
    ]
    assert not disconnected, disconnected


def test_switches_off_give_the_baseline():
    model = build(mpe=False, tcm=False, am=False)
    assert not model.with_prompt_encoder
    assert not model.with_association_head
    assert not any('tcm' in n for n, _ in model.named_parameters())
    model.train()
    data = preprocess(model, [train_sample()], True)
    losses = model(**data, mode='loss')
    assert not any('assoc' in k for k in losses)
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.parameters()
               if p.requires_grad)


def test_overlap_suppression_switch_one_training_step():
    """decode_head.loss_overlap on the tiny model: the entity and part
    decoders get the overlap suppression loss, every other loss is what the
    model without it computes, and a backward pass goes through."""
    results = {}
    for name in ('off', 'on'):
        cfg = tiny_model_cfg()
        if name == 'on':
            cfg.decode_head.loss_overlap = dict(
                type='OverlapSuppressionLoss', loss_weight=2.0)
        torch.manual_seed(0)
        model = MODELS.build(cfg)
        model.init_weights()
        model.train()
        samples = [train_sample(img_id=1), train_sample(img_id=2)]
        data = preprocess(model, samples, True)
        torch.manual_seed(3)
        results[name] = (model, model(**data, mode='loss'))
    model, losses = results['on']
    off = results['off'][1]
    overlap = {k for k in losses if 'overlap' in k}
    assert overlap == {'entity.loss_overlap', 'part.loss_overlap'}
    assert set(losses) == set(off) | overlap
    for key in off:
        torch.testing.assert_close(losses[key], off[key], rtol=0, atol=0)
    for key in overlap:
        assert torch.isfinite(losses[key]) and losses[key].item() > 0, key
    model.zero_grad()
    sum(losses[k] for k in overlap).backward(retain_graph=True)
    for decoder in ('entity', 'part'):
        grad = model.decode_head.decoders[decoder].mask_embed[0].weight.grad
        assert grad is not None and grad.abs().sum() > 0, decoder
    sum(v for k, v in losses.items() if 'loss' in k).backward()


def test_mpe_makes_features_depend_on_the_prompt():
    model = build().eval()
    data = preprocess(model, [train_sample()], False)
    feats = model.extract_feat(data['inputs'])
    full = torch.ones(1, 1, 64, 64)
    half = full.clone()
    half[..., 32:, :] = 0
    with torch.no_grad():
        a = model.add_prompt(feats, full)
        b = model.add_prompt(feats, half)
    assert not torch.allclose(a[0], b[0])
    assert all(not torch.allclose(x, y) for x, y in zip(a[1], b[1]))
    # the cached features are not modified
    again = model.extract_feat(data['inputs'])
    assert torch.equal(again[0], feats[0])


def _check_instances(instances, shape):
    n = len(instances)
    assert instances.masks.dtype == torch.bool
    assert tuple(instances.masks.shape) == (n, *shape)
    assert instances.scores.shape == (n, )
    assert torch.equal(instances.labels, torch.zeros(n, dtype=torch.long))
    assert instances.bboxes.shape == (n, 4)
    assert instances.masks.flatten(1).any(1).all()
    assert (instances.scores[:-1] >= instances.scores[1:]).all()


def _eval_sample(ori=(96, 128), img=(48, 64), img_id=5):
    return DetDataSample(
        metainfo=dict(
            img_id=img_id,
            img_shape=img,
            ori_shape=ori,
            scale_factor=(img[1] / ori[1], img[0] / ori[0]),
            task=dict(sample_type=0, prompt_type='full', decoder='entity')))


def test_predict_one_step():
    model = build().eval()
    model.post_processor.test_cfg['max_per_image'] = dict(part=4)
    data = preprocess(model, [_eval_sample(), _eval_sample(img_id=6)], False)
    with torch.no_grad():
        results = model(**data, mode='predict')
    for res in results:
        for field in ('pred_instances', 'pred_part_instances',
                      'pred_relation_instances'):
            _check_instances(res.get(field), (96, 128))
            assert len(res.get(field)) > 0
        assert len(res.pred_part_instances) <= 4
        for field, parent, child in (('pred_entity_part_links',
                                      'pred_instances', 'pred_part_instances'),
                                     ('pred_relation_entity_links',
                                      'pred_relation_instances',
                                      'pred_instances')):
            links = res.get(field)
            assert len(links) > 0
            assert links.parent_index.dtype == torch.long
            assert (links.parent_index < len(res.get(parent))).all()
            assert (links.child_index < len(res.get(child))).all()
            assert ((links.scores >= 0) & (links.scores <= 1)).all()


def test_predict_without_association_uses_mask_overlap():
    model = build(am=False).eval()
    data = preprocess(model, [_eval_sample()], False)
    with torch.no_grad():
        res = model(**data, mode='predict')[0]
    assert 'pred_entity_part_links' in res
    links = res.pred_entity_part_links
    assert (links.parent_index < len(res.pred_instances)).all()


def test_predict_prompt_on_cached_features():
    model = build().eval()
    data = preprocess(model, [_eval_sample()], False)
    samples = data['data_samples']
    # a prompt at half the original resolution, same aspect
    prompt = torch.zeros(48, 64, dtype=torch.bool)
    prompt[5:30, 10:40] = True
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
        cached = [feats[0].clone()] + [m.clone() for m in feats[1]]
        res = model.predict_prompt(feats, prompt, 'part', samples)[0]
        res2 = model.predict_prompt(feats, prompt, 'part', samples)[0]
        rel = model.predict_prompt(
            feats, prompt.numpy(), None, samples,
            prompt_type='two_entities')[0]
    # features are reused, not modified
    assert torch.equal(cached[0], feats[0])
    assert all(torch.equal(a, b) for a, b in zip(cached[1:], feats[1]))
    # the part decoder's masks are sub-masks of the prompt (at ori size)
    parts = res.pred_part_instances
    _check_instances(parts, (96, 128))
    assert len(parts) > 0
    prompt_ori = torch.zeros(96, 128, dtype=torch.bool)
    prompt_ori[10:60, 20:80] = True
    assert not (parts.masks & ~prompt_ori).any()
    assert len(res.pred_instances) == 0
    assert len(res.pred_entity_part_links) == 0
    assert res.metainfo['task'] == dict(
        sample_type=None, prompt_type=None, decoder='part')
    assert torch.equal(parts.masks, res2.pred_part_instances.masks)
    # relation decoder under a two-entity prompt yields entities
    assert rel.metainfo['task']['decoder'] == 'relation'
    assert rel.metainfo['task']['sample_type'] == 8
    assert len(rel.pred_instances) > 0
    assert len(rel.pred_relation_instances) == 0
    assert not (rel.pred_instances.masks & ~prompt_ori).any()
    # the input samples are left untouched
    assert 'pred_instances' not in samples[0]


def _prompt_box(y0, y1, x0, x1, ori=(96, 128)):
    mask = torch.zeros(ori, dtype=torch.bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_predict_prompts_batches_the_prompts_of_one_image():
    """Prompts run through the decoders several at a time on the image's
    features give what one prompt at a time gives."""
    model = build().eval()
    data = preprocess(model, [_eval_sample()], False)
    sample = data['data_samples'][0]
    prompts = [
        _prompt_box(10, 60, 20, 80),
        _prompt_box(0, 96, 0, 64),
        _prompt_box(40, 90, 60, 128)
    ]
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
        one_by_one = [
            model.predict_prompt(feats, p, 'part', [sample])[0]
            for p in prompts
        ]
        batched = model.predict_prompts(
            feats, sample, prompts, 'part', batch_size=2)
    assert len(batched) == 3
    for single, batch in zip(one_by_one, batched):
        a, b = single.pred_part_instances, batch.pred_part_instances
        assert len(a) > 0
        assert torch.equal(a.masks, b.masks)
        assert torch.allclose(a.scores, b.scores, atol=1e-6)
    two_images = (feats[0].expand(2, -1, -1, -1),
                  [m.expand(2, -1, -1, -1) for m in feats[1]])
    with pytest.raises(ValueError, match='needs the image_indices'):
        model.predict_prompts(two_images, [sample, sample], prompts, 'part')
    with pytest.raises(ValueError, match='1 data samples for features of '
                       'a batch of 2'):
        model.predict_prompts(two_images, sample, prompts, 'part')


def _one_step(model):
    """The evaluation sample, its features and its one-step prediction."""
    data = preprocess(model, [_eval_sample()], False)
    sample = data['data_samples'][0]
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
        one_step = model.predict_by_feat(feats, [copy.deepcopy(sample)])[0]
    return sample, feats, one_step


def test_prompt_snap_drills_into_the_one_step_mask_a_rough_prompt_matches():
    """``test_cfg.prompt_snap``: a box around a one-step entity is replaced
    by the entity mask it matches best (IoU), computed or passed in; the
    result is the drill-down of that mask. Off, or for a decoder whose
    prompt is no entity / relation, nothing is snapped."""
    from mmaims.structures.prompt_geometry import snap_prompt
    model = build().eval()
    sample, feats, one_step = _one_step(model)
    entities = one_step.pred_instances.masks
    assert len(entities) > 1
    x1, y1, x2, y2 = one_step.pred_instances.bboxes[0].long().tolist()
    box = _prompt_box(y1, y2, x1, x2)
    expected, iou = snap_prompt(box, entities)
    assert iou is not None and not torch.equal(expected, box)
    with torch.no_grad():
        plain = model.predict_prompts(feats, sample, [box], 'part')[0]
        model.prompt_snap = True
        snapped = model.predict_prompts(feats, sample, [box], 'part')[0]
        passed = model.predict_prompts(
            feats, sample, [box], 'part', references=[one_step])[0]
        region = model.predict_prompts(feats, sample, [box], 'entity')[0]
        model.prompt_snap = False
        direct = model.predict_prompt(feats, expected, 'part', [sample])[0]
        unsnapped_region = model.predict_prompts(feats, sample, [box],
                                                 'entity')[0]
    assert snapped.metainfo['prompt_snap_iou'] == pytest.approx(iou)
    for result in (snapped, passed):
        assert torch.equal(result.prompt_mask.data, direct.prompt_mask.data)
        assert torch.equal(result.pred_part_instances.masks,
                           direct.pred_part_instances.masks)
    assert 'prompt_snap_iou' not in plain.metainfo
    assert not torch.equal(plain.prompt_mask.data, direct.prompt_mask.data)
    # the entity decoder takes a region ('partial'): never snapped
    assert 'prompt_snap_iou' not in region.metainfo
    assert torch.equal(region.pred_instances.masks,
                       unsnapped_region.pred_instances.masks)
    cfg = tiny_model_cfg()
    cfg.test_cfg = dict(cfg.get('test_cfg') or {}, prompt_snap='yes')
    with pytest.raises(ValueError, match='prompt_snap must be True or False'):
        MODELS.build(cfg)


def test_prompt_clip_entities_cuts_to_the_prompt_and_its_one_step_entities():
    """``prompt_clip='entities'``: the children of a prompt are cut to the
    region of ``entity_clip_region`` (the prompt grown, with the one-step
    entities mostly inside it), computed from one one-step pass, or from
    references passed in; ``predict_prompt`` computes it on its own."""
    from mmaims.structures.prompt_geometry import (entity_clip_region,
                                                   prompt_to_input,
                                                   prompt_to_output)
    model = build().eval()
    sample, feats, one_step = _one_step(model)
    entities = one_step.pred_instances.masks
    x1, y1, x2, y2 = one_step.pred_instances.bboxes[0].long().tolist()
    box = _prompt_box(y1 + 2, y2 - 2, x1 + 2, x2 - 2)
    region = entity_clip_region(box, entities, 3)
    assert (region & ~box).any()
    with torch.no_grad():
        cut = model.predict_prompts(
            feats, sample, [box], 'part', clip='entities')[0]
        passed = model.predict_prompts(
            feats, sample, [box], 'part', clip='entities',
            references=[one_step])[0]
        single = model.predict_prompt(
            feats, box, 'part', [sample], clip='entities')[0]
        whole = model.predict_prompt(feats, box, 'part', [sample],
                                     clip='none')[0]
    assert cut.metainfo['prompt_clip'] == 'entities'
    assert torch.equal(cut.prompt_clip_region.data.bool(),
                       prompt_to_input(region, sample.metainfo))
    # the region as the post-processor sees it: through the network input
    # (this sample is resized) and back to the original size
    at_output, _ = prompt_to_output(cut.prompt_clip_region.data,
                                    cut.metainfo, True, (8, 8))
    masks = cut.pred_part_instances.masks
    assert len(masks) and not (masks & ~at_output).any()
    # the uncut masks reach beyond the region: the clip did cut them
    assert (whole.pred_part_instances.masks & ~at_output).any()
    for other in (passed, single):
        assert torch.equal(other.pred_part_instances.masks, masks)


def _run_decoders(model):
    """Records the decoders each decode-head pass runs."""
    runs = []
    head_forward = model.decode_head.forward

    def forward(*args, **kwargs):
        outputs = head_forward(*args, **kwargs)
        runs.append(tuple(outputs))
        return outputs

    model.decode_head.forward = forward
    return runs


@pytest.mark.parametrize('tcm', [True, False])
def test_prompt_decoder_subsets(tcm):
    """``test_cfg.prompt_decoder_subset`` runs only the decoders a prompt
    needs; without TCM the decoders are independent, so every subset gives
    the output of all; one-step inference always runs all of them."""
    model = build(tcm=tcm).eval()
    runs = _run_decoders(model)
    assoc_calls = []
    model.association_head.register_forward_hook(
        lambda *args: assoc_calls.append(1))
    data = preprocess(model, [_eval_sample()], False)
    sample = data['data_samples'][0]
    prompts = [_prompt_box(10, 60, 20, 80), _prompt_box(40, 90, 60, 128)]
    results = {}
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
        for subset in ('all', 'coupled', 'own'):
            model.prompt_decoder_subset = subset
            results[subset] = model.predict_prompts(feats, sample, prompts,
                                                    'part')
            results[subset, 'relation'] = model.predict_prompts(
                feats, sample, prompts, 'relation')
        one_step = model.predict_by_feat(feats,
                                         copy.deepcopy(data['data_samples']))
    every = ('part', 'entity', 'relation')
    coupled = ('part', 'entity') if tcm else ('part', )
    coupled_rel = ('entity', 'relation') if tcm else ('relation', )
    assert runs == [every, every, coupled, coupled_rel, ('part', ),
                    ('relation', ), every]
    # links need two reported levels: the association module runs only for
    # the one-step pass
    assert len(assoc_calls) == 1 and 'pred_entity_part_links' in one_step[0]
    for subset in ('coupled', 'own'):
        for decoder, field in (('part', 'pred_part_instances'),
                               ('relation', 'pred_instances')):
            key = subset if decoder == 'part' else (subset, decoder)
            base = 'all' if decoder == 'part' else ('all', decoder)
            for a, b in zip(results[base], results[key]):
                a, b = a.get(field), b.get(field)
                assert len(a) > 0
                same = torch.equal(a.masks, b.masks) and torch.allclose(
                    a.scores, b.scores, atol=1e-6)
                if not tcm:  # independent decoders: nothing changes
                    assert same
                elif subset == 'own':  # the TCM's coupling is gone
                    assert not same
    cfg = tiny_model_cfg()
    cfg.test_cfg.prompt_decoder_subset = 'some'
    with pytest.raises(ValueError, match='prompt_decoder_subset'):
        MODELS.build(cfg)
    with pytest.raises(ValueError, match='cannot run decoders'):
        model.decode_head.predict(*feats, decoders=('parts', ))


def _drill_down_sample():
    sample = _eval_sample()
    sample.set_metainfo(
        dict(drill_down_prompts=[
            dict(
                type='entity-part',
                ann_id=7,
                prompt_type='one_entity',
                mask=encode_mask(_prompt_box(10, 60, 20, 80).numpy())),
            dict(
                type='relation-entity',
                ann_id=9,
                prompt_type='two_entities',
                mask=encode_mask(_prompt_box(0, 96, 0, 64).numpy())),
            dict(
                type='entity-part',
                ann_id=8,
                prompt_type='one_entity',
                mask=encode_mask(_prompt_box(40, 90, 60, 128).numpy())),
        ]))
    return sample


def test_predict_runs_the_drill_down_prompts_of_a_sample():
    model = build().eval()
    data = preprocess(model, [_drill_down_sample(), _eval_sample()], False)
    with torch.no_grad():
        results = model(**data, mode='predict')
        feats = model.extract_feat(data['inputs'][:1])
        alone = model.predict_prompt(feats, _prompt_box(40, 90, 60, 128),
                                     'part', data['data_samples'][:1])[0]
    res = results[0]
    prompted = res.pred_prompted_instances
    assert prompted.masks.shape[1:] == (96, 128)
    assert set(prompted.prompt_index.tolist()) == {0, 1, 2}
    # each prompt's masks lie inside it; the third prompt's are what the
    # part decoder gives on it alone
    for row, entry in enumerate(res.metainfo['drill_down_prompts']):
        inside = torch.from_numpy(decode_rle(entry['mask']).astype(bool))
        masks = prompted.masks[prompted.prompt_index == row]
        assert not (masks & ~inside).any()
        assert entry['decoder'] == ('part' if entry['type'] == 'entity-part'
                                    else 'relation')
        assert entry['level'] == ('part' if entry['type'] == 'entity-part'
                                  else 'entity')
    third = prompted.prompt_index == 2
    assert torch.equal(prompted.masks[third], alone.pred_part_instances.masks)
    # the one-step prediction is unchanged, the other sample has no prompts
    assert len(res.pred_instances) > 0
    assert 'pred_prompted_instances' not in results[1]


def test_rough_flag_reaches_the_prompt_encoder_on_every_path():
    """``rough`` of a prompt (a call's argument, a drill-down entry, a
    training sample's ``prompt_rough``) changes what an MPE with
    ``rough_flag`` encodes, and nothing for one without it."""
    model = build(rough_flag=True).eval()
    with torch.no_grad():
        model.prompt_encoder.rough_embed.copy_(torch.randn(C) * 3)
    data = preprocess(model, [_drill_down_sample()], False)
    sample = data['data_samples'][0]
    prompts = [_prompt_box(10, 60, 20, 80), _prompt_box(40, 90, 60, 128)]
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
        alone = {
            flag: [
                model.predict_prompt(feats, p, 'part', [sample],
                                     rough=flag)[0] for p in prompts
            ]
            for flag in (False, True)
        }
        mixed = model.predict_prompts(
            feats, sample, prompts, 'part', rough=[True, False])
        entries = sample.metainfo['drill_down_prompts']
        entries[0]['rough'] = True  # the others exact (no perturbation)
        sample.set_metainfo(dict(drill_down_prompts=entries))
        drilled = model(**data, mode='predict')[0]
    scores = {f: [r.pred_part_instances.scores for r in alone[f]]
              for f in alone}
    assert not torch.allclose(scores[False][0], scores[True][0])
    assert [r.metainfo['prompt_rough'] for r in alone[True]] == [True] * 2
    assert alone[False][0].metainfo['prompt_rough'] is False
    assert torch.allclose(mixed[0].pred_part_instances.scores,
                          scores[True][0], atol=1e-6)
    assert torch.allclose(mixed[1].pred_part_instances.scores,
                          scores[False][1], atol=1e-6)
    prompted = drilled.pred_prompted_instances
    assert torch.allclose(prompted.scores[prompted.prompt_index == 0],
                          scores[True][0], atol=1e-6)
    with pytest.raises(ValueError, match='1 rough flags for 2 prompts'):
        model.predict_prompts(feats, sample, prompts, 'part', rough=[True])
    # training reads the samples' prompt_rough
    model.train()
    losses = {}
    for flag in (False, True):
        train = train_sample(prompt=_box(64, 64, 0, 40, 0, 64))
        train.set_metainfo(dict(prompt_rough=flag))
        batch = preprocess(model, [train], True)
        torch.manual_seed(0)
        losses[flag] = model(**batch, mode='loss')['entity.loss_mask']
    assert not torch.allclose(losses[False], losses[True])
    # a model without the flag ignores it
    plain = build().eval()
    with torch.no_grad():
        feats = plain.extract_feat(data['inputs'])
        a, b = (plain.predict_prompt(feats, prompts[0], 'part', [sample],
                                     rough=flag)[0] for flag in (False, True))
    assert torch.equal(a.pred_part_instances.scores,
                       b.pred_part_instances.scores)


def test_drill_down_prompts_are_skipped_without_mpe():
    model = build(mpe=False).eval()
    data = preprocess(model, [_drill_down_sample()], False)
    with torch.no_grad():
        res = model(**data, mode='predict')[0]
    assert 'pred_prompted_instances' not in res


def test_lean_inference_equals_the_full_path():
    """Intermediate attention masks from resized mask features (the
    default at inference) give what the full path gives; training keeps
    every block's prediction."""
    model = build().eval()
    data = preprocess(model, [_eval_sample(), _eval_sample(img_id=6)],
                      False)
    head_cfg = model.decode_head.test_cfg
    results = {}
    with torch.no_grad():
        for lean in (True, False):
            head_cfg['lean_inference'] = lean
            results[lean] = model.predict(
                data['inputs'], copy.deepcopy(data['data_samples']))
            outputs = model.decode_head(*model.extract_feat(data['inputs']))
            # lean: only the last block's prediction is made
            num = model.decode_head.num_transformer_decoder_layers
            assert len(outputs['part'].mask_preds) == (1 if lean else num + 1)
    for lean_res, full_res in zip(results[True], results[False]):
        for field in ('pred_instances', 'pred_part_instances',
                      'pred_relation_instances'):
            a, b = lean_res.get(field), full_res.get(field)
            assert len(a) > 0 and torch.equal(a.masks, b.masks)
            assert torch.allclose(a.scores, b.scores, atol=1e-5)
        assert torch.allclose(lean_res.pred_entity_part_links.scores,
                              full_res.pred_entity_part_links.scores,
                              atol=1e-5)
    # training ignores the switch: every block predicts
    model.train()
    head_cfg['lean_inference'] = True
    outputs = model.decode_head(*model.extract_feat(data['inputs']))
    assert len(outputs['entity'].cls_scores) == num + 1


def test_full_prompt_on_cached_features_equals_one_step():
    model = build().eval()
    data = preprocess(model, [_eval_sample()], False)
    with torch.no_grad():
        one_step = model.predict(data['inputs'],
                                 copy.deepcopy(data['data_samples']))[0]
        feats = model.extract_feat(data['inputs'])
        prompted = model.predict_prompt(feats, torch.ones(96, 128), 'entity',
                                        data['data_samples'])[0]
    assert torch.equal(one_step.pred_instances.masks,
                       prompted.pred_instances.masks)
    assert torch.allclose(one_step.pred_instances.scores,
                          prompted.pred_instances.scores)


def test_predict_by_feat_equals_predict():
    """One-step inference on cached features gives predict's output."""
    model = build().eval()
    data = preprocess(model, [_eval_sample(), _eval_sample(img_id=6)], False)
    with torch.no_grad():
        direct = model.predict(data['inputs'],
                               copy.deepcopy(data['data_samples']))
        feats = model.extract_feat(data['inputs'])
        cached = model.predict_by_feat(feats,
                                       copy.deepcopy(data['data_samples']))
        with pytest.raises(ValueError, match='1 data samples for features '
                           'of a batch of 2'):
            model.predict_by_feat(feats, data['data_samples'][:1])
    for a, b in zip(direct, cached):
        for field in ('pred_instances', 'pred_part_instances',
                      'pred_relation_instances'):
            assert len(a.get(field)) > 0
            assert torch.equal(a.get(field).masks, b.get(field).masks)
            assert torch.equal(a.get(field).scores, b.get(field).scores)
        for field in ('pred_entity_part_links', 'pred_relation_entity_links'):
            assert torch.equal(a.get(field).parent_index,
                               b.get(field).parent_index)
            assert torch.equal(a.get(field).child_index,
                               b.get(field).child_index)


def test_predict_respects_prompt_task_of_the_sample():
    model = build().eval()
    sample = _eval_sample(ori=(48, 64))
    prompt = torch.zeros(1, 48, 64, dtype=torch.uint8)
    prompt[:, 10:30, 10:30] = 1
    sample.prompt_mask = PixelData(data=prompt)
    sample.set_metainfo(
        dict(
            task=dict(sample_type=7, prompt_type='one_entity',
                      decoder='part')))
    data = preprocess(model, [sample], False)
    with torch.no_grad():
        res = model(**data, mode='predict')[0]
    assert len(res.pred_part_instances) > 0
    assert len(res.pred_instances) == 0
    assert not res.pred_part_instances.masks[:, :10].any()
    assert not res.pred_part_instances.masks[:, 30:].any()


def test_prompt_errors():
    model = build().eval()
    data = preprocess(model, [_eval_sample()], False)
    samples = data['data_samples']
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
    good = torch.ones(96, 128)
    with pytest.raises(ValueError, match='image 5: the prompt is empty'):
        model.predict_prompt(feats, torch.zeros(96, 128), 'part', samples)
    with pytest.raises(ValueError, match='image 5.*aspect ratio'):
        model.predict_prompt(feats, torch.ones(96, 96), 'part', samples)
    with pytest.raises(ValueError, match='image 5.*\\(h, w\\)'):
        model.predict_prompt(feats, torch.ones(2, 96, 128), 'part', samples)
    with pytest.raises(ValueError, match='unknown decoder'):
        model.predict_prompt(feats, good, 'whole', samples)
    with pytest.raises(ValueError, match='prompt type'):
        model.predict_prompt(feats, good, None, samples, prompt_type='x')
    # a prompt type outside paper Table 5 is refused even with a decoder
    with pytest.raises(ValueError, match="unknown prompt type 'whole'"):
        model.predict_prompt(
            feats, good, 'part', samples, prompt_type='whole')
    with pytest.raises(ValueError, match='2 prompts for a batch of 1'):
        model.predict_prompt(feats, [good, good], 'part', samples)
    with pytest.raises(ValueError, match='image 5: metainfo lacks'):
        model.predict_prompt(feats, good, 'part',
                             [DetDataSample(metainfo=dict(img_id=5))])
    tiny = torch.zeros(960, 1280)
    tiny[0, 0] = 1
    with pytest.raises(ValueError, match='empty once resized'):
        model.predict_prompt(feats, tiny, 'part', samples)


def test_prompt_without_mpe_says_what_it_returns():
    model = build(mpe=False).eval()
    data = preprocess(model, [_eval_sample()], False)
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
        with pytest.warns(UserWarning, match='no mask prompt encoder'):
            model.predict_prompt(feats, torch.ones(96, 128), 'part',
                                 data['data_samples'])


def test_tensor_mode():
    model = build().eval()
    data = preprocess(model, [_eval_sample()], False)
    with torch.no_grad():
        outputs, assoc = model(**data, mode='tensor')
    assert set(outputs) == {'part', 'entity', 'relation'}
    assert outputs['entity'].cls_scores[-1].shape == (1, 6, 2)
    assert outputs['entity'].mask_preds[-1].shape == (1, 6, 16, 16)
    assert assoc['entity_part'].shape == (1, 6, 6)


def test_baseline_entity_branch_equals_mmdet_mask2former(load_tool):
    """With MPE, TCM and AM off, AIMS's entity outputs are those of mmdet's
    Mask2Former (one thing class) holding the same weights."""
    from mmaims.models.detectors.aims import fill_widths, scratch_backbone_cfg
    aims = build(mpe=False, tcm=False, am=False).eval()
    # every block's prediction is compared
    aims.decode_head.test_cfg['lean_inference'] = False
    cfg = ConfigDict(fill_widths(tiny_model_cfg(mpe=False, tcm=False,
                                                am=False)))
    pixel_decoder = copy.deepcopy(cfg.pixel_decoder)
    for key in ('type', 'in_channels', 'strides', 'feat_channels',
                'out_channels'):
        pixel_decoder.pop(key)
    m2f_cfg = dict(
        type='Mask2Former',
        data_preprocessor=dict(
            type='DetDataPreprocessor',
            **{
                k: cfg.data_preprocessor[k]
                for k in ('mean', 'std', 'bgr_to_rgb', 'pad_size_divisor')
            }),
        backbone=scratch_backbone_cfg(cfg.backbone),
        panoptic_head=dict(
            type='Mask2FormerHead',
            in_channels=[8, 16, 32, 64],
            strides=[4, 8, 16, 32],
            feat_channels=C,
            out_channels=C,
            num_things_classes=1,
            num_stuff_classes=0,
            num_queries=6,
            num_transformer_feat_level=3,
            pixel_decoder=dict(
                type='MSDeformAttnPixelDecoder', **pixel_decoder),
            positional_encoding=dict(num_feats=C // 2, normalize=True),
            transformer_decoder=cfg.decode_head.transformer_decoder,
            loss_cls=dict(
                type='CrossEntropyLoss',
                use_sigmoid=False,
                loss_weight=2.0,
                class_weight=[1.0, 0.1])),
        panoptic_fusion_head=dict(
            type='MaskFormerFusionHead',
            num_things_classes=1,
            num_stuff_classes=0),
        test_cfg=dict(panoptic_on=False, instance_on=True, max_per_image=6))
    torch.manual_seed(3)
    m2f = MODELS.build(ConfigDict(m2f_cfg))
    m2f.init_weights()
    m2f.eval()
    tool = load_tool('model_converters/mask2former_to_aims.py')
    converted = tool.convert_mask2former_state_dict(
        m2f.state_dict(), decoder='entity')
    missing, unexpected = aims.load_state_dict(converted, strict=False)
    assert not unexpected
    assert all(
        k.startswith(('decode_head.decoders.part.',
                      'decode_head.decoders.relation.'))
        for k in missing), missing

    data = preprocess(aims, [_eval_sample()], False)
    with torch.no_grad():
        outputs, _ = aims(**data, mode='tensor')
        m2f_cls, m2f_masks = m2f._forward(data['inputs'], data['data_samples'])
    ours = outputs['entity']
    assert len(ours.cls_scores) == len(m2f_cls) == 4
    for a, b in zip(ours.cls_scores, m2f_cls):
        assert (a - b).abs().max() < 1e-5
    for a, b in zip(ours.mask_preds, m2f_masks):
        assert (a - b).abs().max() < 1e-5

    # the post-processed instances agree too (mmdet keeps empty masks and
    # does not sort)
    with torch.no_grad():
        ours = aims.predict(data['inputs'],
                            copy.deepcopy(data['data_samples']))[0]
        theirs = m2f.predict(data['inputs'],
                             copy.deepcopy(data['data_samples']))[0]
    theirs = theirs.pred_instances
    theirs = theirs[theirs.masks.flatten(1).any(1)]
    order = theirs.scores.argsort(descending=True, stable=True)
    theirs = theirs[order]
    ours = ours.pred_instances
    assert len(ours) == len(theirs) > 0
    assert torch.allclose(ours.scores, theirs.scores, atol=1e-5)
    assert torch.equal(ours.masks, theirs.masks)


def _ppp_like_loss_share(**association):
    """Share of the association loss in the total training loss of one
    PPP-like sample (parts and entities, both exhaustive, linked), with 50
    queries per decoder: 3 linked pairs among 2,500 entity-part pairs."""
    cfg = tiny_model_cfg()
    cfg.decode_head.num_queries = 50
    cfg.association_head.update(association)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    sample = train_sample()
    sample.set_metainfo(
        dict(
            levels=['part', 'entity'],
            task=dict(
                sample_type=2,
                prompt_type='full',
                decoder='part',
                supervision={
                    lvl: dict(level=lvl, exhaustive=True)
                    for lvl in ('part', 'entity')
                })))
    with torch.no_grad():
        losses = model(**preprocess(model, [sample], True), mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert losses['relation_entity.loss_assoc'] == 0  # no relation targets
    return float(losses['entity_part.loss_assoc'] / total)


def test_association_loss_is_a_real_share_of_a_ppp_like_sample():
    # the base config's association loss (balanced BCE, weight 5): 4.4 %
    # of the total here (the paper-size Swin-T model: about 4 % per pair on
    # synthetic batches, README "Association loss")
    base = Config.fromfile(BASE_MODEL).model.association_head
    share = _ppp_like_loss_share(
        balanced=base.balanced, loss_assoc=base.loss_assoc)
    assert share >= 0.03
    # eq. 8 as a plain mean with weight 1 gave it almost no signal: 0.8 %
    plain = _ppp_like_loss_share(
        balanced=False,
        loss_assoc=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0))
    assert plain < 0.01


def test_widths_derive_from_the_pixel_decoder():
    """A config sets the model's width once (the pixel decoder's): the
    attentions, decoders, TCM, prompt encoder and association module
    follow; a width given explicitly is kept."""
    from mmaims.models.detectors.aims import fill_widths
    cfg = tiny_model_cfg()
    cfg.pixel_decoder.update(feat_channels=48, out_channels=48)
    model = MODELS.build(cfg)
    head = model.decode_head
    assert (head.feat_channels, head.out_channels) == (48, 48)
    layer = head.decoders['entity'].transformer_decoder.layers[0]
    assert layer.cross_attn.embed_dims == 48
    assert layer.ffn.embed_dims == 48
    assert head.tcm_layers[0]['entity_part'].embed_dims == 48
    assert head.decoder_positional_encoding.num_feats == 24
    assert model.pixel_decoder.postional_encoding.num_feats == 24
    assert model.prompt_encoder.out_channels == 48
    assert model.association_head.in_channels == 48
    # the tiny config gives the association module its own feat_channels
    assert model.association_head.feat_channels == 16
    filled = fill_widths(dict(pixel_decoder=dict(), decode_head=dict()))
    assert filled['decode_head']['feat_channels'] == 256
    assert filled['pixel_decoder']['positional_encoding']['num_feats'] == 128
