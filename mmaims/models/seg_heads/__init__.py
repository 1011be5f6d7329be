# Copyright (c) mmaims contributors. All rights reserved.
from mmaims.structures import make_nonoverlap  # its home; kept importable here
from .aims_post_processor import AIMSPostProcessor

__all__ = ['AIMSPostProcessor', 'make_nonoverlap']
