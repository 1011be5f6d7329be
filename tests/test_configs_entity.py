# Copyright (c) mmaims contributors. All rights reserved.
"""The entity framework's configs (configs/entity/, paper 002): the
baselines differ from the framework by the two modules only, and the
recipes are those of Sec. 6.2-6.3."""
import os.path as osp

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
ENTITY = osp.join(REPO, 'configs', 'entity')


def _load(name):
    return Config.fromfile(osp.join(ENTITY, name))


def _diff(a, b, path=''):
    """Dotted keys whose values differ between two config dicts."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = set(a) | set(b)
        return sorted(k for key in keys
                      for k in _diff(a.get(key), b.get(key), f'{path}.{key}'
                                     if path else key))
    return [] if a == b else [path]


@pytest.mark.parametrize('baseline, framework', [
    ('condinst_r50_fpn_8xb2-1x_coco-entity.py',
     'entity-condinst_r50_fpn_8xb2-1x_coco-entity.py'),
    ('condinst_r18_synthetic.py', 'entity-condinst_r18_synthetic.py'),
])
def test_baseline_is_the_framework_without_its_two_modules(
        baseline, framework):
    base, full = _load(baseline), _load(framework)
    assert _diff(base.to_dict(), full.to_dict()) == [
        'model.mask_head.kernel_bank', 'model.mask_head.loss_overlap'
    ]
    assert full.model.mask_head.kernel_bank is True
    assert full.model.mask_head.loss_overlap.type == 'OverlapSuppressionLoss'
    assert base.model.mask_head.kernel_bank is False
    assert base.model.mask_head.loss_overlap is None


def test_paper_recipes():
    one = _load('entity-condinst_r50_fpn_8xb2-1x_coco-entity.py')
    three = _load('entity-condinst_r50_fpn_8xb2-3x_coco-entity.py')
    # class-agnostic CondInst on an ImageNet R-50, centre-of-mass sampling,
    # sqrt(centerness x entityness), non-overlapping output
    assert one.model.type == 'EntityCondInst'
    assert one.model.backbone.init_cfg.checkpoint == 'torchvision://resnet50'
    assert one.model.bbox_head.type == 'EntityBboxHead'
    assert one.model.bbox_head.center_sampling is True
    assert one.model.test_cfg.nonoverlap is True
    assert one.load_from is None
    # Sec. 6.2: short side 640-800 step 32, long side 1333, batch 16
    resize = one.train_pipeline[3]
    assert resize.scales == [(1333, s) for s in range(640, 801, 32)]
    assert one.train_dataloader.batch_size * 8 == 16
    for cfg, iters, steps in ((one, 90000, [60000, 80000]),
                              (three, 270000, [210000, 250000])):
        assert cfg.train_cfg.max_iters == iters
        assert cfg.param_scheduler[1].milestones == steps
    # Sec. 6.3: COCO and ADE20K concatenated, drawn by image count
    both = _load('entity-condinst_r50_fpn_8xb2-1x_coco-ade20k-entity.py')
    loader = both.train_dataloader
    assert loader.sampler.type == 'InfiniteSampler'
    assert loader.dataset.type == 'ConcatDataset'
    assert [d.ann_file for d in loader.dataset.datasets] == [
        'aims/coco_train.json', 'aims/ade20k_train.json'
    ]
    for dataset in loader.dataset.datasets:
        [prompt] = [
            t for t in dataset.pipeline if t.type == 'SampleTaskPrompt'
        ]
        assert prompt.default_sample_type == 1
        assert prompt.supervise_all_levels is False
    swin_l = _load('entity-condinst_swin-l_fpn_8xb2-3x_coco-ade20k-entity.py')
    assert swin_l.model.neck.in_channels == [192, 384, 768, 1536]
    assert swin_l.train_cfg.max_iters == 270000


def test_training_without_weights_is_stopped_unless_on_purpose():
    """TrainSetupCheckHook guards the entity framework as it guards AIMS:
    the R-50 config without its ImageNet init_cfg has no weights; the CPU
    config trains from scratch on purpose (trainable norms, no residual
    block starting as the identity)."""
    from mmaims.engine.hooks.train_setup_check_hook import initial_weights
    from mmaims.registry import MODELS
    from mmaims.utils import register_all_modules
    register_all_modules()
    cfg = _load('entity-condinst_r50_fpn_8xb2-1x_coco-entity.py')
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    assert model.from_scratch is False
    assert initial_weights(model, None, False) is None
    scratch = MODELS.build(_load('entity-condinst_r18_synthetic.py').model)
    assert scratch.from_scratch is True
    assert 'random weights' in initial_weights(scratch, None, False)
    assert scratch.backbone.zero_init_residual is False
    assert scratch.backbone.norm_eval is False
