# Copyright (c) mmaims contributors. All rights reserved.
from .task_sampler_seed_hook import TaskSamplerSeedHook

__all__ = ['TaskSamplerSeedHook']
