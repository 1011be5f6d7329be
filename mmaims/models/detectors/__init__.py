# Copyright (c) mmaims contributors. All rights reserved.
from .aims import AIMS
from .crop_former import CropFormer

__all__ = ['AIMS', 'CropFormer']
