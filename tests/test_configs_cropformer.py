# Copyright (c) mmaims contributors. All rights reserved.
"""configs/cropformer: the class-agnostic Mask2Former entity baselines of
EntitySeg (paper 003, Table 3), the CropFormer configs built on them, and
the baselines' CPU synthetic counterpart, which trains and predicts here on
a tiny generated dataset. (Every config also loads and builds in
tests/test_configs.py, Swin-L included.)"""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config, ConfigDict

from mmaims.registry import METRICS, MODELS
from mmaims.utils import register_all_modules

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO, 'configs', 'cropformer')
# name -> (backbone embed dims, iterations, lr steps)
PAPER = {
    'mask2former_swin-t_8xb2-1x_entityseg.py': (96, 34375, [30525, 33138]),
    'mask2former_swin-t_8xb2-3x_entityseg.py': (96, 103125, [91575, 99414]),
    'mask2former_swin-l_8xb2-1x_entityseg.py': (192, 34375, [30525, 33138]),
    'mask2former_swin-l_8xb2-3x_entityseg.py': (192, 103125, [91575, 99414]),
}
# CropFormer config -> the Mask2Former baseline it adds the batch level to
CROPFORMER = {
    f'cropformer_swin-{b}_8xb2-{s}_entityseg.py':
    f'mask2former_swin-{b}_8xb2-{s}_entityseg.py'
    for b in 'tl'
    for s in ('1x', '3x')
}
SYNTHETIC = 'mask2former_entity_r18_synthetic.py'

register_all_modules()


def _load(name):
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def _step(pipeline, name):
    steps = [s for s in pipeline if s['type'] == name]
    assert len(steps) == 1, name
    return steps[0]


@pytest.mark.parametrize('name', sorted(PAPER))
def test_entityseg_baselines(name):
    embed_dims, iters, steps = PAPER[name]
    cfg = _load(name)
    model = cfg.model
    assert model.backbone.embed_dims == embed_dims
    assert model.backbone.init_cfg.type == 'Pretrained'
    assert cfg.load_from is None  # COCO-Entity weights: documented, opt-in
    # Mask2Former = one entity decoder, no MPE / TCM / AM
    assert tuple(model.decode_head.decoders) == ('entity', )
    assert model.decode_head.num_queries == 100
    assert model.decode_head.tcm is None
    assert model.prompt_encoder is None and model.association_head is None
    assert model.train_cfg.unannotated == 'background'
    # the schedule: Nx = N times 34,375 iterations and both lr steps
    assert cfg.train_cfg.max_iters == iters
    assert cfg.param_scheduler.milestones == steps
    assert cfg.param_scheduler.end == iters
    assert cfg.param_scheduler.gamma == 0.1
    assert iters / 34375 == steps[0] / 30525 == steps[1] / 33138
    # Mask2Former's COCO optimisation at batch 16 (8 GPUs x 2)
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
    assert cfg.optim_wrapper.clip_grad.max_norm == 0.01
    keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert keys['backbone'].lr_mult == 0.1
    assert keys['backbone.stages.2.blocks.5.norm'].decay_mult == 0.0
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.train_dataloader.sampler.batch_size == 2
    assert cfg.auto_scale_lr.base_batch_size == 16
    # EntitySeg, full images to the entity decoder only
    dataset = cfg.train_dataloader.dataset
    assert tuple(dataset.sample_types) == (1, )
    assert dataset.datasets[0].ann_file == 'aims/entityseg_train.json'
    assert _step(dataset.pipeline,
                 'SampleTaskPrompt').supervise_all_levels is False
    assert cfg.val_evaluator.ann_file.endswith('aims/entityseg_val.json')
    assert _step(cfg.test_dataloader.dataset.pipeline,
                 'HierarchicalResize').scale == (1333, 800)


def test_swin_t_baseline_is_a_single_decoder_mask2former():
    cfg = _load('mask2former_swin-t_8xb2-1x_entityseg.py')
    model = MODELS.build(cfg.model)
    assert not model.with_prompt_encoder
    assert not model.with_association_head
    assert not model.decode_head.with_tcm
    assert list(model.decode_head.decoders) == ['entity']
    assert model.decode_head.decoders['entity'].num_queries == 100


@pytest.mark.parametrize('name', sorted(CROPFORMER))
def test_entityseg_cropformer_is_its_baseline_plus_the_batch_level(name):
    """Sec. 5.2: CropFormer trains with "the same entity training setting
    of Mask2Former". Everything but the batch level, the crop views and the
    crop-ensemble test_cfg is the baseline's, image-level model included."""
    cfg = _load(name).to_dict()
    base = _load(CROPFORMER[name]).to_dict()
    replaced = {
        'model', 'train_pipeline', 'test_pipeline', 'train_dataloader',
        'val_dataloader', 'test_dataloader'
    }
    helpers = {
        'crop_ratio', 'cropformer_model', 'cropformer_train_pipeline',
        'cropformer_test_pipeline'
    }
    assert set(cfg) == set(base) | helpers
    for key in set(base) - replaced:  # schedule, optimizer, evaluator...
        assert cfg[key] == base[key], key
    assert cfg['load_from'] is None  # COCO-Entity weights: documented
    model, base_model = cfg['model'], base['model']
    assert model['type'] == 'CropFormer'
    for key in set(base_model) - {'type', 'data_preprocessor', 'test_cfg'}:
        assert model[key] == base_model[key], key
    assert model['backbone']['init_cfg']['type'] == 'Pretrained'
    assert model['data_preprocessor'] == dict(
        base_model['data_preprocessor'], type='CropFormerDataPreprocessor')
    assert model['image_loss_weight'] == 1.0  # eq. 7

    # the batch level at the entity decoder's depth and widths (the
    # released decoder runs the batch queries through its 9 blocks)
    head = model['batch_head']
    batch_decoder = head['batch_decoder']['transformer_decoder']
    entity_decoder = model['decode_head']['transformer_decoder']
    assert batch_decoder['num_layers'] == entity_decoder['num_layers'] == 9
    assert batch_decoder['layer_cfg']['ffn_cfg']['feedforward_channels'] \
        == entity_decoder['layer_cfg']['ffn_cfg']['feedforward_channels'] \
        == 2048
    association = head['association']
    assert association['self_attn_cfg'] is not None  # Table 9c last row
    assert association['ffn_cfg']['feedforward_channels'] == 2048
    assert head['train_cfg']['num_points'] == \
        model['train_cfg']['num_points'] == 12544
    assert head['train_cfg']['assigner']['type'] == \
        'JointViewHungarianAssigner'
    # Table 7's last row, the default: full image and crops, scored by the
    # batch-level entityness
    test_cfg = model['test_cfg']
    assert (test_cfg['decoder'], test_cfg['views']) == ('batch', 'full+crops')
    assert test_cfg['nonoverlap'] and not test_cfg['rescore']
    assert test_cfg['max_per_image'] == 100 and '_delete_' not in test_cfg
    assert 'prompt_decoders' not in test_cfg  # AIMS's keys are dropped

    # the baseline's loaders with CropFormerViews in place of the resize
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ours, theirs = copy.deepcopy(cfg[loader]), copy.deepcopy(base[loader])
        ours['dataset'].pop('pipeline'), theirs['dataset'].pop('pipeline')
        assert ours == theirs, loader
    train = cfg['train_dataloader']['dataset']['pipeline']
    test = cfg['test_dataloader']['dataset']['pipeline']
    assert train == cfg['train_pipeline'] and test == cfg['test_pipeline']
    assert cfg['val_dataloader']['dataset']['pipeline'] == test
    types = [step['type'] for step in train]
    # entities are filtered before the views are cut
    assert types.index('FilterHierarchicalAnnotations') < \
        types.index('CropFormerViews')
    assert types[-1] == 'PackCropFormerInputs'
    views = _step(train, 'CropFormerViews')
    assert views['crop_ratio'] == 0.7 and not views.get('test_mode', False)
    base_train = base['train_dataloader']['dataset']['pipeline']
    assert views['scale'] == _step(base_train, 'RandomChoiceResize')['scales']
    views = _step(test, 'CropFormerViews')
    assert views['crop_ratio'] == 0.7 and views['test_mode'] is True
    base_test = base['test_dataloader']['dataset']['pipeline']
    assert views['scale'] == _step(
        base_test, 'HierarchicalResize')['scale'] == (1333, 800)
    assert test[-1]['type'] == 'PackCropFormerInputs'


def test_swin_t_cropformer_takes_the_baseline_weights_and_predicts(load_tool):
    """The COCO-Entity path of the CropFormer configs: the baseline's
    weights (what mask2former_to_aims.py --decoders entity writes for it)
    initialise the whole image-level part of CropFormer; only the batch
    level (batch_head.*) is left to its own initialisation. The model then
    predicts a small image through the config's test pipeline."""
    cfg = _load('cropformer_swin-t_8xb2-1x_entityseg.py')
    baseline = MODELS.build(
        _load('mask2former_swin-t_8xb2-1x_entityseg.py').model)
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'CropFormer'
    assert len(model.batch_head.batch_decoder.transformer_decoder.layers) \
        == 9
    weights = baseline.state_dict()
    missing, unexpected = model.load_state_dict(weights, strict=False)
    assert unexpected == []
    assert missing and all(k.startswith('batch_head.') for k in missing)
    assert len(weights) + len(missing) == len(model.state_dict())

    # the benchmark's input: one random image through the test pipeline
    benchmark = load_tool('analysis_tools/benchmark_cropformer.py')
    model.eval()
    inputs, samples = benchmark.make_cropformer_batch(model, cfg, 32, 1.0)
    assert inputs.shape[0] == 5  # full view + 4 corner crops
    with torch.no_grad():
        samples = model.predict(inputs, samples)
    entities = samples[0].pred_instances
    assert len(entities) <= 100
    assert tuple(entities.masks.shape[1:]) == (32, 32)
    assert entities.masks.sum(0).max() <= 1  # non-overlapping


def test_synthetic_entity_baseline_trains_and_predicts(tiny_synthetic_cfg):
    from mmengine.runner import Runner
    cfg = tiny_synthetic_cfg(osp.join(CONFIG_DIR, SYNTHETIC))
    # the main job's data and schedule, the entity decoder alone
    assert tuple(cfg.model.decode_head.decoders) == ('entity', )
    assert cfg.train_dataloader.dataset.sample_types == (1, )
    assert cfg.val_evaluator.drill_down is False

    runner = Runner.from_cfg(cfg)
    runner.train()
    assert osp.isfile(osp.join(cfg.work_dir, 'iter_2.pth'))
    logged = set(runner.message_hub.log_scalars)
    assert {
        'train/entity.loss_cls', 'train/entity.loss_mask',
        'train/entity.loss_dice', 'train/entity.d0.loss_cls'
    } <= logged
    assert not any(
        k.startswith(('train/part.', 'train/relation.')) for k in logged)
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert loss > 0 and torch.isfinite(torch.tensor(loss))

    runner.model.eval()
    batch = next(iter(runner.test_dataloader))
    with torch.no_grad():
        samples = runner.model.test_step(batch)
    assert len(samples) == 2
    for sample in samples:
        entities = sample.pred_instances
        assert 0 < len(entities) <= 20
        assert tuple(entities.masks.shape[1:]) == \
            tuple(sample.metainfo['ori_shape'][:2])
        assert (entities.scores[:-1] >= entities.scores[1:]).all()
        assert len(sample.pred_part_instances) == 0
        assert len(sample.pred_relation_instances) == 0

    # the config's evaluator on these predictions: entity AP and AP^e
    metric = METRICS.build(cfg.test_evaluator)
    metric.process(batch, samples)
    metrics = metric.evaluate(len(samples))
    for key in ('aims/entity_mAP', 'aims/entity_mAP_nonoverlap'):
        assert 0.0 <= metrics[key] <= 1.0, (key, metrics[key])


def test_mask2former_weights_initialise_the_whole_entity_model(load_tool):
    """The documented COCO-Entity path: a mmdet Mask2Former of the same
    size converts (``--decoders entity``) onto every tensor of the
    single-decoder model, with nothing left out."""
    cfg = _load(SYNTHETIC)
    benchmark = load_tool('analysis_tools/benchmark.py')
    converter = load_tool('model_converters/mask2former_to_aims.py')
    m2f = MODELS.build(ConfigDict(benchmark.build_mask2former_cfg(cfg.model)))
    model = MODELS.build(cfg.model)
    converted, report = converter.convert(m2f.state_dict(), model.state_dict(),
                                          ['entity'])
    assert report['shape_mismatch'] == [] and report['not_in_model'] == []
    assert report['not_initialised'] == []
    assert report['kept'] == len(model.state_dict())
    missing, unexpected = model.load_state_dict(converted, strict=True)
    assert not missing and not unexpected


def test_thin_study_pair_has_one_budget_and_one_full_view():
    """CropFormer's CPU evidence: the baseline and CropFormer train on the
    same thin-structure data with the same budget, and the baseline's
    training view is CropFormer's full view."""
    base = Config.fromfile(
        osp.join(CONFIG_DIR, 'mask2former_entity_r18_thin.py'))
    crop = Config.fromfile(osp.join(CONFIG_DIR, 'cropformer_r18_thin.py'))
    for key in ('train_cfg', 'param_scheduler', 'optim_wrapper',
                'val_evaluator', 'randomness'):
        assert base[key] == crop[key], key
    for loader in ('train_dataloader', 'val_dataloader'):
        b, c = base[loader], crop[loader]
        assert b.batch_size == c.batch_size
        b_sets = b.dataset.get('datasets', [b.dataset])
        c_sets = c.dataset.get('datasets', [c.dataset])
        assert [d.data_root for d in b_sets] == [
            d.data_root for d in c_sets
        ] == ['data/aims_thin/']
    [resize] = [
        t for t in base.train_dataloader.dataset.pipeline
        if t.type == 'HierarchicalResize'
    ]
    [views] = [
        t for t in crop.train_dataloader.dataset.pipeline
        if t.type == 'CropFormerViews'
    ]
    assert tuple(resize.scale) == tuple(views.scale) and resize.keep_ratio
    assert base.train_cfg.max_iters == 1000
