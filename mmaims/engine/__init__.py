# Copyright (c) mmaims contributors. All rights reserved.
"""Runner components of mmaims (hooks, loops, optimizers). The registries of
mmaims/registry.py look here; mmaims needs none of its own yet."""
