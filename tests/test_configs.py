# Copyright (c) mmaims contributors. All rights reserved.
"""Every config in configs/ loads, and every model config builds."""
import glob
import os.path as osp
import re

import pytest
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
# what a config may never point at: weights or data fetched at runtime
REMOTE = re.compile(r'(https?|torchvision|open-mmlab|mmcls|modelzoo)://')

register_all_modules()


def _load(name):
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def test_configs_found():
    assert 'aims/aims_swin-t.py' in ALL_CONFIGS
    assert 'aims/aims_swin-l.py' in ALL_CONFIGS
    assert '_base_/schedules/schedule_36k.py' in ALL_CONFIGS


@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_config_loads_without_remote_resources(name):
    cfg = _load(name)
    assert not REMOTE.search(cfg.pretty_text), \
        f'{name} refers to a remote resource'


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


def test_table_3a_switches():
    expected = {
        'aims/aims_swin-t_baseline.py': (False, False, False),
        'aims/aims_swin-t_mpe-only.py': (True, False, False),
        'aims/aims_swin-t_tcm-only.py': (False, True, False),
        'aims/aims_swin-t_am-only.py': (False, False, True),
        'aims/aims_swin-t.py': (True, True, True),
    }
    for name, switches in expected.items():
        cfg = _load(name)
        model = MODELS.build(cfg.model)
        assert _switches(model) == switches, name
        # without MPE the prompt-based sample types are not used
        if not switches[0]:
            assert tuple(cfg.train_dataloader.dataset.sample_types) == (1, 2,
                                                                        3)


def test_table_4_variants():
    cfg = _load('aims/aims_swin-t_mpe-conv2x2-conv1x2.py')
    assert cfg.model.prompt_encoder.num_conv1 == 2
    cfg = _load('aims/aims_swin-t_mpe-conv2x2.py')
    assert cfg.model.prompt_encoder.num_conv1 == 0
    tcm = _load('aims/aims_swin-t_tcm-sa.py').model.decode_head.tcm
    assert (tcm.with_self_attn, tcm.with_ffn, tcm.with_add) == (True, False,
                                                                False)
    tcm = _load('aims/aims_swin-t_tcm-sa-ff.py').model.decode_head.tcm
    assert (tcm.with_self_attn, tcm.with_ffn, tcm.with_add) == (True, True,
                                                                False)


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
    assert cfg.load_from and not REMOTE.search(cfg.load_from)
    # Mask2Former's Swin lr multipliers merged into the schedule's
    keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert keys['backbone'].lr_mult == 0.1
    assert keys['backbone.stages.2.blocks.17.norm'].decay_mult == 0.0
    decode_head = cfg.model.decode_head
    assert decode_head.transformer_decoder.num_layers == 9
    assert decode_head.feat_channels == 256
    assert decode_head.decoders == ('part', 'entity', 'relation')


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
