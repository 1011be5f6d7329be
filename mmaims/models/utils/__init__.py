# Copyright (c) mmaims contributors. All rights reserved.
from .crop_ensemble import fuse_crop_probs, merge_crop_predictions

__all__ = ['fuse_crop_probs', 'merge_crop_predictions']
