# Copyright (c) mmaims contributors. All rights reserved.
from .model_wrapper import AIMSDistributedDataParallel

__all__ = ['AIMSDistributedDataParallel']
