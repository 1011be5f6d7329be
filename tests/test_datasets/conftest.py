# Copyright (c) mmaims contributors. All rights reserved.
"""Fixtures of the data-layer tests; the builders live in hier_helpers."""
import copy

import pytest
from hier_helpers import DATA_DIR, load_toy, toy_data_info


@pytest.fixture
def toy_results():
    """Factory: ``toy_results(levels=..., valid_region=...)`` returns the
    toy scene after :class:`LoadHierarchicalAnnotations`."""

    def make(**kwargs):
        return load_toy(**kwargs)

    return make


@pytest.fixture
def toy_info():
    return lambda **kwargs: copy.deepcopy(toy_data_info(**kwargs))


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory):
    """A tiny synthetic dataset (24 train + 6 val images)."""
    from mmaims.datasets.synthetic import make_synthetic_dataset
    root = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic_dataset(root, num_images=24, num_val=6, seed=3)
    return root


@pytest.fixture
def hier_data_dir():
    return DATA_DIR
