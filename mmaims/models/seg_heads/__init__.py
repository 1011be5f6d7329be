# Copyright (c) mmaims contributors. All rights reserved.
from .aims_post_processor import AIMSPostProcessor

__all__ = ['AIMSPostProcessor']
