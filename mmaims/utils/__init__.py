# Copyright (c) mmaims contributors. All rights reserved.
from .checkpoint import (CorruptCheckpointError, UnsafeCheckpointError,
                         find_resume_checkpoint, load_checkpoint_weights_only,
                         register_safe_checkpoint_loader,
                         safe_checkpoint_globals)
from .file_io import atomic_open, dump_bytes, dump_json
from .setup_env import (register_all_modules, setup_distributed,
                        teardown_distributed)

__all__ = [
    'register_all_modules', 'setup_distributed', 'teardown_distributed',
    'UnsafeCheckpointError',
    'load_checkpoint_weights_only', 'register_safe_checkpoint_loader',
    'safe_checkpoint_globals', 'atomic_open', 'dump_bytes', 'dump_json',
    'CorruptCheckpointError', 'find_resume_checkpoint'
]
