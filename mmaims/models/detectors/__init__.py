# Copyright (c) mmaims contributors. All rights reserved.
from .aims import AIMS

__all__ = ['AIMS']
