# Copyright (c) mmaims contributors. All rights reserved.
import subprocess
import sys

import mmdet.registry as mmdet_registry
import torch
from mmdet.models.task_modules.assigners import HungarianAssigner
from mmengine.registry import DefaultScope

import mmaims.registry as mmaims_registry

REGISTRY_NAMES = [
    'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'DATASETS',
    'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS', 'MODEL_WRAPPERS',
    'WEIGHT_INITIALIZERS', 'OPTIMIZERS', 'OPTIM_WRAPPERS',
    'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'METRICS', 'EVALUATOR',
    'TASK_UTILS', 'VISUALIZERS', 'VISBACKENDS', 'LOG_PROCESSORS'
]


def test_every_mmdet_registry_has_an_mmaims_child():
    for name in REGISTRY_NAMES:
        child = getattr(mmaims_registry, name)
        parent = getattr(mmdet_registry, name)
        assert child.parent is parent, name
        assert child.scope == 'mmaims', name
        assert child._locations, f'{name} has no locations'


def test_mmdet_class_resolves_through_child_registry():
    from mmdet.models.dense_heads import Mask2FormerHead
    assert mmaims_registry.MODELS.get('Mask2FormerHead') is Mask2FormerHead


def test_import_command_from_issue():
    # the acceptance command of the foundation issue, in a fresh interpreter
    out = subprocess.run([
        sys.executable, '-c',
        'import mmaims; from mmaims.registry import MODELS; '
        "print(MODELS.get('Mask2FormerHead'))"
    ],
                         capture_output=True,
                         text=True,
                         check=True).stdout
    assert 'mmdet.models.dense_heads.mask2former_head.Mask2FormerHead' in out


@mmaims_registry.TASK_UTILS.register_module(force=True)
class RegistryProbeCost:
    """A match cost only the mmaims registry knows."""

    def __init__(self, weight=1.0):
        self.weight = weight

    def __call__(self, pred_instances, gt_instances, img_meta=None, **kw):
        n, m = len(pred_instances), len(gt_instances)
        return torch.arange(n * m, dtype=torch.float32).view(n, m)


def test_mmaims_class_is_built_from_inside_mmdet_code():
    # HungarianAssigner builds its match costs with mmdet's TASK_UTILS.
    # Under default_scope='mmaims' mmengine switches to the mmaims child
    # registry, so mmdet code instantiates a class only mmaims registered.
    with DefaultScope.overwrite_default_scope('mmaims'):
        assigner = HungarianAssigner(
            match_costs=[dict(type='RegistryProbeCost', weight=2.0)])
    assert isinstance(assigner.match_costs[0], RegistryProbeCost)
    assert assigner.match_costs[0].weight == 2.0


def test_version_guard_names_installed_and_required(monkeypatch):
    import mmcv

    import mmaims
    monkeypatch.setattr(mmcv, '__version__', '2.2.0')
    try:
        mmaims._check_versions()
    except ImportError as e:
        message = str(e)
    else:
        raise AssertionError('mmcv 2.2.0 was accepted')
    assert 'mmcv==2.2.0' in message and '2.1.0' in message
