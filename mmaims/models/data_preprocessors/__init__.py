# Copyright (c) mmaims contributors. All rights reserved.
from .aims_data_preprocessor import AIMSDataPreprocessor

__all__ = ['AIMSDataPreprocessor']
