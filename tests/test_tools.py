# Copyright (c) mmaims contributors. All rights reserved.
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
from mmengine.config import Config

import mmaims  # noqa: F401  (registers the ``mmaims::`` config prefix)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.mark.parametrize('tool', ['tools/train.py', 'tools/test.py'])
def test_tool_help(tool):
    out = subprocess.run([sys.executable, osp.join(REPO, tool), '--help'],
                         capture_output=True,
                         text=True,
                         check=True).stdout
    for option in ('--work-dir', '--cfg-options', '--launcher'):
        assert option in out
    if tool.endswith('train.py'):
        assert '--resume' in out and '--amp' in out
    else:
        assert '--out' in out and '--show-dir' in out


def test_package_config_reference_resolves(tmp_path):
    # configs/ ships inside the package (mmaims/.mim/configs), so configs of
    # other projects can inherit ours with the ``mmaims::`` prefix
    cfg_file = tmp_path / 'user_cfg.py'
    cfg_file.write_text("_base_ = 'mmaims::_base_/default_runtime.py'\n")
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.default_scope == 'mmaims'


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _run_distributed_script(script):
    env = dict(
        os.environ,
        RANK='0',
        LOCAL_RANK='0',
        WORLD_SIZE='1',
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(_free_port()),
        CUDA_VISIBLE_DEVICES='')
    return subprocess.run([sys.executable, '-c', script],
                          capture_output=True,
                          text=True,
                          env=env,
                          timeout=120)


def test_cpu_distributed_setup_uses_gloo():
    script = (
        'import torch, torch.distributed as dist\n'
        'from mmengine.config import Config\n'
        'from mmengine.registry import MODEL_WRAPPERS\n'
        'from mmaims.utils import register_all_modules, setup_distributed\n'
        'register_all_modules()\n'
        "cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))\n"
        "setup_distributed('pytorch', cfg)\n"
        'print(dist.get_backend(), cfg.env_cfg.dist_cfg.backend,\n'
        '      cfg.model_wrapper_cfg.type)\n'
        '# what mmengine.Runner.wrap_model does with the config\n'
        'wrapper = MODEL_WRAPPERS.build(cfg.model_wrapper_cfg, default_args=\n'
        '    dict(module=torch.nn.Linear(2, 2), device_ids=[0]))\n'
        'print(type(wrapper).__name__, wrapper.device_ids)\n'
        'dist.destroy_process_group()\n')
    out = _run_distributed_script(script)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split('\n')
    assert lines[0].split() == ['gloo', 'gloo', 'MMDistributedDataParallel']
    assert lines[1].split() == ['MMDistributedDataParallel', 'None']


def test_teardown_distributed_destroys_the_group():
    out = _run_distributed_script(
        'import torch, torch.distributed as dist\n'
        'from mmengine.config import Config\n'
        'from mmaims.utils import setup_distributed, teardown_distributed\n'
        "setup_distributed('pytorch', Config(dict()))\n"
        't = torch.ones(3)\n'
        'dist.all_reduce(t)\n'
        'print(dist.is_initialized(), int(t.sum()))\n'
        'teardown_distributed()\n'
        'print(dist.is_initialized())\n'
        'teardown_distributed()  # a second call does nothing\n'
        'print(dist.is_initialized())\n')
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ['True', '3', 'False', 'False']


def test_group_left_alive_is_destroyed_before_interpreter_exit():
    # a script that never tears down: the group must be gone by the time
    # the interpreter finalises (gloo aborts the process otherwise). atexit
    # handlers run last-registered-first, so this probe runs after the one
    # setup_distributed registers.
    out = _run_distributed_script(
        'import atexit, torch, torch.distributed as dist\n'
        'from mmengine.config import Config\n'
        'from mmaims.utils import setup_distributed\n'
        "atexit.register(lambda: print('at exit', dist.is_initialized()))\n"
        "setup_distributed('pytorch', Config(dict()))\n"
        't = torch.ones(2)\n'
        'dist.all_reduce(t)\n'
        "print('running', dist.is_initialized())\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split('\n')[:2] == ['running True', 'at exit False']
