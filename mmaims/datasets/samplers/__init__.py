# Copyright (c) mmaims contributors. All rights reserved.
from .task_balanced_sampler import TaskBalancedSampler

__all__ = ['TaskBalancedSampler']
