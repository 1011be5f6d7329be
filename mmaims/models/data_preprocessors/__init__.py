# Copyright (c) mmaims contributors. All rights reserved.
from .aims_data_preprocessor import AIMSDataPreprocessor
from .crop_former_data_preprocessor import CropFormerDataPreprocessor

__all__ = ['AIMSDataPreprocessor', 'CropFormerDataPreprocessor']
