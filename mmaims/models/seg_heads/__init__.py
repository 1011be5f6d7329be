# Copyright (c) mmaims contributors. All rights reserved.
from .aims_post_processor import AIMSPostProcessor, make_nonoverlap

__all__ = ['AIMSPostProcessor', 'make_nonoverlap']
