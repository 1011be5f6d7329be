# Copyright (c) mmaims contributors. All rights reserved.
from .task_sampler_seed_hook import TaskSamplerSeedHook
from .train_setup_check_hook import TrainSetupCheckHook

__all__ = ['TaskSamplerSeedHook', 'TrainSetupCheckHook']
