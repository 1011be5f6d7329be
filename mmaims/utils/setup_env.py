# Copyright (c) mmaims contributors. All rights reserved.
import atexit
import datetime
import gc
import os
import subprocess
import warnings

import torch
import torch.distributed as torch_dist
from mmengine import DefaultScope
from mmengine.config import Config


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register all modules of mmdet and mmaims into the registries.

    It only registers: loading checkpoints weights-only is a separate,
    explicit call, :func:`register_safe_checkpoint_loader`, which the tools,
    the demo and the inferencer make.

    Args:
        init_default_scope (bool): Whether to set the global default scope to
            ``mmaims``, so registries build modules from the mmaims nodes
            (and fall back to mmdet and mmengine). Defaults to True.
    """
    from mmdet.utils import register_all_modules as mmdet_register_all_modules
    mmdet_register_all_modules(init_default_scope=False)

    import mmaims.datasets  # noqa: F401,F403
    import mmaims.engine  # noqa: F401,F403
    import mmaims.evaluation  # noqa: F401,F403
    import mmaims.models  # noqa: F401,F403
    import mmaims.visualization  # noqa: F401,F403

    if init_default_scope:
        never_created = DefaultScope.get_current_instance() is None \
            or not DefaultScope.check_instance_created('mmaims')
        if never_created:
            DefaultScope.get_instance('mmaims', scope_name='mmaims')
            return
        current_scope = DefaultScope.get_current_instance()
        if current_scope.scope_name != 'mmaims':
            warnings.warn('The current default scope '
                          f'"{current_scope.scope_name}" is not "mmaims", '
                          '`register_all_modules` will force the current '
                          'default scope to be "mmaims". If this is not '
                          'expected, please set `init_default_scope=False`.')
            # avoid name conflict
            new_instance_name = f'mmaims-{datetime.datetime.now()}'
            DefaultScope.get_instance(new_instance_name, scope_name='mmaims')


def setup_distributed(launcher: str, cfg: Config) -> None:
    """Prepare a config (and, on CPU, the process group) for a launcher.

    mmengine 0.10.7 initialises every launcher with
    ``torch.cuda.set_device``, which a CPU-only torch does not have, and
    wraps the model with ``device_ids=[LOCAL_RANK]``, which
    ``DistributedDataParallel`` rejects for a CPU module. On a machine
    without CUDA this function therefore starts the process group itself
    with the ``gloo`` backend (the Runner then sees an initialised group and
    skips its own set-up) and sets ``model_wrapper_cfg`` to mmengine's
    ``MMDistributedDataParallel`` with ``device_ids=None`` (a config value
    takes precedence over the Runner's default argument), keeping the
    Runner's defaults ``broadcast_buffers=False`` and
    ``find_unused_parameters=cfg.find_unused_parameters``. With CUDA
    nothing is changed and the configured backend (``nccl`` by default) is
    used by the Runner as usual. A config that trains with FSDP
    (``runner_type='FlexibleRunner'``, an FSDP ``strategy``) stops here
    without CUDA: torch's FSDP has no CPU backend.

    Args:
        launcher (str): ``'none'``, ``'pytorch'`` or ``'slurm'``.
        cfg (Config): The config the Runner will be built from. Modified in
            place.

    Raises:
        RuntimeError: An FSDP config on a machine without CUDA.
    """
    cfg.launcher = launcher
    if uses_fsdp(cfg) and not torch.cuda.is_available():
        raise RuntimeError(
            'this config trains with FSDP (strategy '
            f'{cfg.strategy["type"]}), which needs CUDA: torch\'s '
            'FullyShardedDataParallel has no CPU backend ("FSDP needs a '
            'non-CPU accelerator device"). On this machine use a DDP config '
            '(e.g. configs/aims/aims_swin-l.py, with tools/dist_train.sh on '
            'gloo).')
    if launcher == 'none' or torch.cuda.is_available():
        return
    cfg.setdefault('env_cfg', dict())
    cfg.env_cfg.setdefault('dist_cfg', dict())
    cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    wrapper_cfg = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper_cfg['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper_cfg
    if torch_dist.is_available() and torch_dist.is_initialized():
        return
    if launcher == 'slurm':
        _export_slurm_env(cfg.env_cfg.dist_cfg.get('port'))
    elif launcher != 'pytorch':
        raise ValueError(f'Launcher "{launcher}" is not supported on CPU; use '
                         '"pytorch" (tools/dist_train.sh) or "slurm".')
    timeout = cfg.env_cfg.dist_cfg.get('timeout', 1800)
    torch_dist.init_process_group(
        backend='gloo', timeout=datetime.timedelta(seconds=timeout))
    # gloo's worker threads abort the process (SIGABRT, "terminate called
    # without an active exception") when the interpreter is finalised with
    # the group still alive, so make sure it is destroyed before that.
    atexit.register(teardown_distributed, barrier=False)


def uses_fsdp(cfg: Config) -> bool:
    """Whether ``cfg`` trains with a FlexibleRunner FSDP strategy."""
    strategy = cfg.get('strategy') or {}
    kind = strategy.get('type', '') if isinstance(strategy, dict) else ''
    name = kind if isinstance(kind, str) else getattr(kind, '__name__', '')
    return 'FSDP' in name


def teardown_distributed(barrier: bool = True) -> None:
    """Destroy the default process group, if one is initialised.

    The tools call this when a run has finished: a process that exits with
    a live ``gloo`` group can be aborted while the interpreter shuts down
    (torch leaves the group to the user), which turns a successful run into
    a failed exit status. It does nothing when no group exists, so it is
    safe to call twice and in non-distributed runs.

    Args:
        barrier (bool): Wait for all ranks first, so that no rank tears the
            group down while another still communicates. Defaults to True.
    """
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return
    if barrier:
        torch_dist.barrier()
    # objects still holding the group (a DDP reducer the caller has let go
    # of, in a reference cycle) are freed first, not during interpreter
    # shutdown, where their threads can abort the process
    gc.collect()
    torch_dist.destroy_process_group()


def _export_slurm_env(port=None) -> None:
    """Fill the torch.distributed ``env://`` variables from SLURM's."""
    proc_id = int(os.environ['SLURM_PROCID'])
    ntasks = int(os.environ['SLURM_NTASKS'])
    node_list = os.environ['SLURM_NODELIST']
    addr = subprocess.getoutput(
        f'scontrol show hostname {node_list} | head -n1')
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    os.environ.setdefault('MASTER_PORT', '29500')
    os.environ.setdefault('MASTER_ADDR', addr)
    os.environ['WORLD_SIZE'] = str(ntasks)
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')
    os.environ['RANK'] = str(proc_id)
