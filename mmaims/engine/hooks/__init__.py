# Copyright (c) mmaims contributors. All rights reserved.
from .aims_logger_hook import AIMSLoggerHook
from .task_sampler_seed_hook import TaskSamplerSeedHook
from .train_setup_check_hook import TrainSetupCheckHook

__all__ = ['AIMSLoggerHook', 'TaskSamplerSeedHook', 'TrainSetupCheckHook']
