# Copyright (c) mmaims contributors. All rights reserved.
"""The switches of large-scale training (issue 14, part 5): bf16 AMP and
activation checkpointing of the Swin-L config, and its FSDP variant.

mmengine's ``AmpOptimWrapper`` and torch's FSDP need a GPU, so on CPU these
tests check what can be checked there: the variant configs differ from
``aims_swin-l.py`` only by their switches, checkpointing leaves the loss
and gradients unchanged, the model trains under bf16 autocast, and the
FSDP config stops with a clear error instead of a stack trace.
"""
import os.path as osp
import subprocess
import sys

import torch
from mmengine.config import Config

from mmaims.registry import MODELS
from mmaims.utils import register_all_modules

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CONFIG = osp.join(REPO, 'tests', 'data', 'configs', 'aims_tiny.py')

register_all_modules()


def _config(name):
    return Config.fromfile(osp.join(REPO, 'configs', 'aims', name))


def _without(cfg, *keys):
    d = cfg.to_dict()
    for key in keys:
        node = d
        *path, last = key.split('.')
        for part in path:
            node = node[part]
        node.pop(last, None)
    return d


def test_switch_configs_differ_from_swin_l_only_by_their_switches():
    base = _config('aims_swin-l.py')
    bf16 = _config('aims_swin-l_bf16-cp.py')
    fsdp = _config('aims_swin-l_fsdp.py')
    assert bf16.optim_wrapper.type == 'AmpOptimWrapper'
    assert bf16.optim_wrapper.dtype == 'bfloat16'
    assert bf16.model.backbone.with_cp is True
    assert base.model.backbone.with_cp is False
    assert fsdp.runner_type == 'FlexibleRunner'
    assert fsdp.strategy.type == 'FSDPStrategy'
    assert fsdp.strategy.model_wrapper.use_orig_params is True
    # everything else (model, data, schedule, optimizer) is the paper's
    switches = ('model.backbone.with_cp', 'optim_wrapper.type',
                'optim_wrapper.dtype')
    assert _without(bf16, *switches) == _without(base, *switches)
    assert _without(fsdp, 'runner_type', 'strategy') == bf16.to_dict()


def test_gpu_smoke_configs_use_the_paper_switches():
    """configs/aims/smoke/ train the switches of the paper-scale configs
    on the synthetic data (a GPU check of a user's set-up)."""
    bf16 = _config('aims_swin-l_bf16-cp.py')
    fsdp = _config('aims_swin-l_fsdp.py')
    smoke = _config('smoke/aims_swin-l_bf16-cp_synthetic.py')
    smoke_fsdp = _config('smoke/aims_swin-l_fsdp_synthetic.py')
    paper_backbone = bf16.model.backbone.to_dict()
    paper_backbone.pop('init_cfg')
    for cfg in (smoke, smoke_fsdp):
        backbone = cfg.model.backbone.to_dict()
        assert backbone.pop('init_cfg') is None  # random weights
        assert backbone == paper_backbone
        assert cfg.model.pixel_decoder.in_channels == \
            bf16.model.pixel_decoder.in_channels
        assert cfg.optim_wrapper.type == bf16.optim_wrapper.type
        assert cfg.optim_wrapper.dtype == bf16.optim_wrapper.dtype
    assert smoke_fsdp.runner_type == fsdp.runner_type
    assert smoke_fsdp.strategy == fsdp.strategy
    assert 'strategy' not in smoke


def _tiny_loss_and_grads(with_cp):
    from tests.test_models.test_detectors import test_aims
    cfg = Config.fromfile(TINY_CONFIG).model
    cfg.backbone.with_cp = with_cp
    torch.manual_seed(0)
    model = MODELS.build(cfg).train()
    data = test_aims.preprocess(
        model, [test_aims.train_sample(),
                test_aims.train_sample(img_id=2)], True)
    torch.manual_seed(3)  # the point sampling of the mask losses
    losses = model.loss(data['inputs'], data['data_samples'])
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    grads = {
        n: p.grad.clone()
        for n, p in model.named_parameters() if p.grad is not None
    }
    return total.detach(), grads


def test_activation_checkpointing_keeps_loss_and_gradients():
    loss, grads = _tiny_loss_and_grads(False)
    loss_cp, grads_cp = _tiny_loss_and_grads(True)
    assert torch.allclose(loss, loss_cp, rtol=1e-5)
    assert set(grads) == set(grads_cp)
    assert any(n.startswith('backbone.') for n in grads)
    for name in grads:
        assert torch.allclose(
            grads[name], grads_cp[name], rtol=1e-4, atol=1e-5), name


def test_model_trains_under_bf16_autocast():
    """What AmpOptimWrapper(dtype='bfloat16') does on a GPU, on CPU: the
    forward under bf16 autocast gives finite losses and gradients for
    every trained parameter."""
    from tests.test_models.test_detectors import test_aims
    cfg = Config.fromfile(TINY_CONFIG).model
    torch.manual_seed(0)
    model = MODELS.build(cfg).train()
    data = test_aims.preprocess(
        model, [test_aims.train_sample(),
                test_aims.train_sample(img_id=2)], True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model.loss(data['inputs'], data['data_samples'])
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    missing = [
        n for n, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or not torch.isfinite(
            p.grad).all())
    ]
    assert not missing, missing


def test_fsdp_config_stops_clearly_without_cuda(tmp_path):
    if torch.cuda.is_available():  # the check is for CPU machines
        return
    out = subprocess.run([
        sys.executable, 'tools/train.py', 'configs/aims/aims_swin-l_fsdp.py',
        '--work-dir',
        str(tmp_path)
    ],
                         cwd=REPO,
                         capture_output=True,
                         text=True,
                         timeout=300)
    assert out.returncode != 0
    assert 'FSDP' in out.stderr and 'needs CUDA' in out.stderr, out.stderr
    assert 'aims_swin-l.py' in out.stderr
