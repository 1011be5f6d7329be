# Copyright (c) mmaims contributors. All rights reserved.
"""Fixtures shared by the whole suite: a tiny randomly initialised AIMS
(tests/data/configs/aims_tiny.py) saved as a checkpoint, and an inferencer
built from it, for the inference, demo and visualizer tests; the CPU
CropFormer (configs/cropformer/cropformer_r18_synthetic.py) saved the same
way, for the inference and demo tests."""
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config

TESTS = osp.dirname(osp.abspath(__file__))
TINY_CONFIG = osp.join(TESTS, 'data', 'configs', 'aims_tiny.py')
INFER_DATA = osp.join(TESTS, 'data', 'inference')
CROPFORMER_CONFIG = osp.join(
    osp.dirname(TESTS), 'configs', 'cropformer', 'cropformer_r18_synthetic.py')
ENTITY_CONFIG = osp.join(
    osp.dirname(TESTS), 'configs', 'entity',
    'entity-condinst_r18_synthetic.py')


@pytest.fixture(scope='session')
def load_tool():
    """Import a script of tools/ as a module: ``load_tool('model_converters/
    mask2former_to_aims.py')``."""

    def load(path):
        spec = importlib.util.spec_from_file_location(
            osp.splitext(osp.basename(path))[0],
            osp.join(osp.dirname(TESTS), 'tools', path))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


def _random_checkpoint(config: str, path: str) -> str:
    """Build ``config``'s model with seeded random weights; save it."""
    from mmaims.registry import MODELS
    from mmaims.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(config).model)
    model.init_weights()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


@pytest.fixture(scope='session')
def tiny_checkpoint(tmp_path_factory):
    return _random_checkpoint(
        TINY_CONFIG, str(tmp_path_factory.mktemp('tiny') / 'tiny.pth'))


@pytest.fixture(scope='session')
def cropformer_checkpoint(tmp_path_factory):
    """configs/cropformer/cropformer_r18_synthetic.py with random weights."""
    return _random_checkpoint(
        CROPFORMER_CONFIG,
        str(tmp_path_factory.mktemp('cropformer') / 'cropformer.pth'))


@pytest.fixture(scope='session')
def entity_condinst_checkpoint(tmp_path_factory):
    """configs/entity/entity-condinst_r18_synthetic.py with random
    weights."""
    return _random_checkpoint(
        ENTITY_CONFIG,
        str(tmp_path_factory.mktemp('entity') / 'entity_condinst.pth'))


@pytest.fixture(scope='module')
def inferencer(tiny_checkpoint):
    from mmaims.apis import AIMSInferencer
    return AIMSInferencer(
        TINY_CONFIG, tiny_checkpoint, device='cpu', show_progress=False)
