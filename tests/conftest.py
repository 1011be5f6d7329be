# Copyright (c) mmaims contributors. All rights reserved.
"""Fixtures shared by the whole suite: a tiny randomly initialised AIMS
(tests/data/configs/aims_tiny.py) saved as a checkpoint, and an inferencer
built from it, for the inference, demo and visualizer tests; the CPU
CropFormer (configs/cropformer/cropformer_r18_synthetic.py) saved the same
way, for the inference and demo tests."""
import importlib.util
import itertools
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


def box_of(rle: dict) -> tuple:
    """The tight box ``(x1, y1, x2, y2)`` (``x2``, ``y2`` exclusive) of a
    predicted mask's RLE: a box prompt that drills into that mask."""
    from mmaims.structures.mask import rle_bbox
    x, y, w, h = (int(v) for v in rle_bbox(rle))
    return x, y, x + w, y + h


#: the option that gives the tiny model the rough-prompt flag
ROUGH_FLAG_OPTION = {'model.prompt_encoder.rough_flag': True}


@pytest.fixture(scope='session')
def flag_checkpoint(tmp_path_factory):
    """The tiny model with the rough-prompt flag (``ROUGH_FLAG_OPTION``)
    and a random flag vector, large enough to change the children."""
    from mmaims.registry import MODELS
    from mmaims.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.merge_from_dict(ROUGH_FLAG_OPTION)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        model.prompt_encoder.rough_embed.normal_(std=3)
    path = str(tmp_path_factory.mktemp('flag') / 'flag.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


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


_RUNNER_IDS = itertools.count()


@pytest.fixture
def tiny_synthetic_cfg(tmp_path):
    """A factory: ``make(config, max_iters)`` loads a synthetic CPU config
    (one whose data is the main job's, e.g. the entity models' ``*_r18_
    synthetic.py``) and points it at a 12-image synthetic set generated in
    ``tmp_path``, with batch 2, no workers, ``max_iters`` iterations, a
    checkpoint at the end and a log line each iteration."""

    def make(config: str, max_iters: int = 2) -> Config:
        from mmaims.datasets.synthetic import make_synthetic_dataset
        root = str(tmp_path / 'data') + '/'
        if not osp.isdir(root):
            make_synthetic_dataset(
                root, num_images=12, num_val=4, seed=3, size=64)
        cfg = Config.fromfile(config)
        cfg.work_dir = str(tmp_path / 'work')
        # mmengine keeps one instance per name: a fresh runner each time
        cfg.experiment_name = f'tiny_synthetic_{next(_RUNNER_IDS)}'
        train = cfg.train_dataloader
        train.update(batch_size=2, num_workers=0, persistent_workers=False)
        train.sampler.batch_size = 2
        train.dataset.datasets[0].data_root = root
        for loader in (cfg.val_dataloader, cfg.test_dataloader):
            loader.update(
                batch_size=2, num_workers=0, persistent_workers=False)
            loader.dataset.data_root = root
        for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
            evaluator.ann_file = root + 'annotations/val.json'
        cfg.train_cfg.update(max_iters=max_iters, val_interval=1000)
        cfg.default_hooks.checkpoint.interval = max_iters
        cfg.default_hooks.logger.interval = 1
        return cfg

    return make
