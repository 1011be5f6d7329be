# Copyright (c) mmaims contributors. All rights reserved.
"""Every config in configs/ loads, and every model config builds."""
import glob
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config, ConfigDict

from mmaims.registry import MODELS
from mmaims.utils import register_all_modules

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO, 'configs')
ALL_CONFIGS = sorted(
    osp.relpath(p, CONFIG_DIR)
    for p in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True))
# every config outside _base_ is a full config, and _base_/models holds the
# model bases
MODEL_CONFIGS = [
    n for n in ALL_CONFIGS
    if not n.startswith('_base_/') or n.startswith('_base_/models/')
]
# a remote resource: allowed only as a paper config's backbone init_cfg
# (ImageNet weights named the way mmdet's configs name them)
REMOTE = re.compile(r'(https?|torchvision|open-mmlab|mmcls|modelzoo)://')
# configs that reproduce the paper (its Table 2 models and every ablation)
PAPER_CONFIGS = [
    n for n in ALL_CONFIGS
    if n in ('aims/aims_swin-t.py', 'aims/aims_swin-l.py', 'aims/aims_r50.py')
    or n.startswith('aims/ablations/')
]

register_all_modules()


def _load(name):
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def test_configs_found():
    assert 'aims/aims_swin-t.py' in ALL_CONFIGS
    assert 'aims/aims_swin-l.py' in ALL_CONFIGS
    assert '_base_/schedules/schedule_36k.py' in ALL_CONFIGS


@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_config_loads_and_only_backbone_weights_are_remote(name):
    cfg = _load(name)
    if 'model' in cfg and 'backbone' in cfg.model:
        cfg.model.backbone.pop('init_cfg', None)
    cfg.pop('pretrained', None)
    assert not REMOTE.search(cfg.pretty_text), \
        f'{name} refers to a remote resource outside the backbone init_cfg'


def test_paper_configs_found():
    assert len([n for n in PAPER_CONFIGS if 'ablations' in n]) == 26


@pytest.mark.parametrize('name', PAPER_CONFIGS)
def test_paper_config_names_backbone_weights_and_paper_semantics(name):
    cfg = _load(name)
    init = cfg.model.backbone.init_cfg
    assert init.type == 'Pretrained' and REMOTE.search(init.checkpoint)
    assert not cfg.model.get('from_scratch', False)
    assert cfg.load_from is None  # COCO-Entity weights: documented, opt-in
    # the paper's semantics: unannotated pixels are background
    assert cfg.model.train_cfg.unannotated == 'background'
    # the hook that stops a run without weights is on
    assert cfg.default_hooks.setup_check.type == 'TrainSetupCheckHook'


def _identity_blocks(backbone):
    """Residual blocks whose output equals their shortcut path."""
    from mmdet.models.backbones.resnet import BasicBlock, Bottleneck
    from mmdet.models.backbones.swin import SwinBlock
    found = []
    torch.manual_seed(0)
    for name, block in backbone.named_modules():
        if isinstance(block, (BasicBlock, Bottleneck)):
            x = torch.randn(2, block.conv1.in_channels, 8, 8)
            shortcut = x if block.downsample is None else block.downsample(x)
            if torch.allclose(block(x), torch.relu(shortcut)):
                found.append(name)
        elif isinstance(block, SwinBlock):
            x = torch.randn(1, 14 * 14, block.ffn.embed_dims)
            if torch.allclose(block(x, (14, 14)), x):
                found.append(name)
    return found


# one config per backbone: the ablation leaves share the Swin-T backbone
@pytest.mark.parametrize(
    'name', ['aims/aims_r50.py', 'aims/aims_swin-t.py', 'aims/aims_swin-l.py'])
def test_paper_backbone_from_scratch_can_learn(name):
    """Without pretrained weights (model.from_scratch=True, init run, no
    download): no frozen norm layer and no residual block that is the
    identity (a zero-initialised last norm, frozen, would stay one)."""
    cfg = _load(name)
    cfg.model.from_scratch = True
    model = MODELS.build(cfg.model)
    backbone = model.backbone
    assert backbone.init_cfg is None or \
        'Pretrained' not in str(backbone.init_cfg)
    backbone.init_weights()  # random init: nothing downloaded
    backbone.train()
    for module in backbone.modules():
        if isinstance(module, (torch.nn.modules.batchnorm._NormBase,
                               torch.nn.LayerNorm, torch.nn.GroupNorm)):
            assert all(p.requires_grad for p in module.parameters())
            assert module.training
    with torch.no_grad():
        assert _identity_blocks(backbone) == []


def test_without_from_scratch_r50_would_be_dead():
    """What from_scratch prevents: the R-50 base with its pretrained
    init_cfg removed has frozen BatchNorm and identity residual blocks."""
    cfg = _load('aims/aims_r50.py')
    cfg.model.backbone.init_cfg = None
    backbone = MODELS.build(cfg.model).backbone
    backbone.init_weights()
    backbone.train()
    frozen = [
        m for m in backbone.modules()
        if isinstance(m, torch.nn.BatchNorm2d) and not m.weight.requires_grad
    ]
    assert frozen
    with torch.no_grad():
        assert len(_identity_blocks(backbone)) == 16


@pytest.mark.parametrize('name', MODEL_CONFIGS)
def test_model_builds(name):
    cfg = _load(name)
    assert 'model' in cfg, f'{name} defines no model'
    # building is enough here (no forward): Swin-L builds in seconds
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0


def _switches(model):
    return (model.with_prompt_encoder, model.decode_head.with_tcm,
            model.with_association_head)


def _abl(name):
    return _load(f'aims/ablations/{name}.py')


def test_table_3a_switches():
    expected = {
        'table3a_row1_baseline': (False, False, False),
        'table3a_row2_mpe': (True, False, False),
        'table3a_row3_tcm': (False, True, False),
        'table3a_row4_am': (False, False, True),
        'table3a_row5_full': (True, True, True),
    }
    for name, switches in expected.items():
        cfg = _abl(name)
        model = MODELS.build(cfg.model)
        assert _switches(model) == switches, name
        # without MPE the prompt-based sample types are not used; every
        # Table 3a row trains at the full model's batch and learning rate
        types = tuple(cfg.train_dataloader.dataset.sample_types)
        assert types == ((1, 2, 3) if not switches[0] else tuple(
            range(1, 9))), name
        assert cfg.train_dataloader.batch_size == 8
        assert cfg.optim_wrapper.optimizer.lr == 1e-4


def test_table_4_variants():
    assert _abl('table4a_row3_conv2bx2-conv1x2').model.prompt_encoder.\
        num_conv1 == 2
    assert _abl('table4a_row4_conv2bx2').model.prompt_encoder.num_conv1 == 0
    assert _abl('table4a_row2_conv2bx2-conv1').model.prompt_encoder.\
        num_conv1 == 1
    for name, flags in (('table4b_row2_sa', (True, False, False)),
                        ('table4b_row3_sa-ff', (True, True, False)),
                        ('table4b_row4_sa-ff-add', (True, True, True))):
        tcm = _abl(name).model.decode_head.tcm
        assert (tcm.with_self_attn, tcm.with_ffn, tcm.with_add) == flags
    for table in ('3b', '4a', '4b', '6'):
        cfg = _abl(glob.glob(osp.join(
            CONFIG_DIR, 'aims', 'ablations',
            f'table{table}_row1_*.py'))[0].rsplit('/', 1)[1][:-3])
        assert cfg.model.prompt_encoder is None  # the baseline


@pytest.mark.parametrize('name,types', [
    ('table6_row2_types1-3', (1, 2, 3)),
    ('table6_row3_types4-6', (4, 5, 6)),
    ('table6_row4_types1-6', (1, 2, 3, 4, 5, 6)),
    ('table6_row5_types1-7', (1, 2, 3, 4, 5, 6, 7)),
    ('table6_row6_types1-6-8', (1, 2, 3, 4, 5, 6, 8)),
    ('table6_row7_types1-8', tuple(range(1, 9))),
    ('table3b_row3_pam', (4, 5, 6)),
    ('table3b_row5_rem-epm', (7, 8)),
])
def test_table_6_learning_rate_scales_with_the_batch(name, types):
    """One sample of each enabled type per GPU; lr = 1e-4 x batch / 8."""
    cfg = _abl(name)
    n = len(types)
    assert tuple(cfg.train_dataloader.dataset.sample_types) == types
    assert cfg.train_dataloader.batch_size == n
    assert cfg.train_dataloader.sampler.batch_size == n
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(1e-4 * n / 8)
    assert cfg.auto_scale_lr.base_batch_size == 8 * n
    assert cfg.model.prompt_encoder is not None


def test_paper_schedule_and_swin_l():
    cfg = _load('aims/aims_swin-l.py')
    assert cfg.train_cfg.max_iters == 36000
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
    assert cfg.param_scheduler.milestones == [28000, 33000]
    assert cfg.param_scheduler.gamma == 0.1
    assert cfg.auto_scale_lr.base_batch_size == 64
    assert cfg.model.backbone.embed_dims == 192
    assert cfg.model.pixel_decoder.in_channels == [192, 384, 768, 1536]
    assert 'swin_large' in cfg.model.backbone.init_cfg.checkpoint
    # Mask2Former's Swin lr multipliers merged into the schedule's
    keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert keys['backbone'].lr_mult == 0.1
    assert keys['backbone.stages.2.blocks.17.norm'].decay_mult == 0.0
    from mmaims.models.detectors.aims import fill_widths
    decode_head = fill_widths(cfg.model)['decode_head']
    assert decode_head['transformer_decoder'].num_layers == 9
    assert decode_head['feat_channels'] == 256
    assert decode_head['decoders'] == ('part', 'entity', 'relation')


def test_benchmark_mask2former_counterpart_matches_the_aims_model():
    """tools/analysis_tools/benchmark.py compares AIMS with an mmdet
    Mask2Former of the same backbone, pixel decoder and decoder size."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'aims_benchmark',
        osp.join(REPO, 'tools', 'analysis_tools', 'benchmark.py'))
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    cfg = _load('aims/aims_swin-t.py')
    aims = MODELS.build(cfg.model)
    m2f = MODELS.build(ConfigDict(benchmark.build_mask2former_cfg(cfg.model)))

    def count(module):
        return sum(p.numel() for p in module.parameters())

    assert type(m2f).__name__ == 'Mask2Former'
    assert count(m2f.backbone) == count(aims.backbone)
    assert count(m2f.panoptic_head.pixel_decoder) == count(aims.pixel_decoder)
    head = m2f.panoptic_head
    entity = aims.decode_head.decoders['entity']
    assert count(head) - count(head.pixel_decoder) == count(entity)
    assert head.num_queries == entity.num_queries
