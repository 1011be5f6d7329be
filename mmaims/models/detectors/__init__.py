# Copyright (c) mmaims contributors. All rights reserved.
from .aims import AIMS
from .crop_former import CropFormer
from .entity_condinst import EntityCondInst

__all__ = ['AIMS', 'CropFormer', 'EntityCondInst']
