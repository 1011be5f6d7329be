# Copyright (c) mmaims contributors. All rights reserved.
"""Fixtures shared by the whole suite: a tiny randomly initialised AIMS
(tests/data/configs/aims_tiny.py) saved as a checkpoint, and an inferencer
built from it, for the inference, demo and visualizer tests."""
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config

TESTS = osp.dirname(osp.abspath(__file__))
TINY_CONFIG = osp.join(TESTS, 'data', 'configs', 'aims_tiny.py')
INFER_DATA = osp.join(TESTS, 'data', 'inference')


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


@pytest.fixture(scope='session')
def tiny_checkpoint(tmp_path_factory):
    from mmaims.registry import MODELS
    from mmaims.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(TINY_CONFIG).model)
    model.init_weights()
    path = str(tmp_path_factory.mktemp('tiny') / 'tiny.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


@pytest.fixture(scope='module')
def inferencer(tiny_checkpoint):
    from mmaims.apis import AIMSInferencer
    return AIMSInferencer(
        TINY_CONFIG, tiny_checkpoint, device='cpu', show_progress=False)
