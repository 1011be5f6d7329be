# Copyright (c) mmaims contributors. All rights reserved.
"""Runner components of mmaims (hooks)."""
from .hooks import *  # noqa: F401,F403
