# Copyright (c) mmaims contributors. All rights reserved.
from collections import Counter
from unittest import mock

import numpy as np
import pytest

from mmaims.datasets.samplers import TaskBalancedSampler


class FakeTaskDataset:
    """Pools like AIMSTaskDataset's, without images."""

    def __init__(self, pools, num_images=1000):
        self.pools = {
            t: {s: np.array(v)
                for s, v in p.items()}
            for t, p in pools.items()
        }
        self.sample_types = tuple(sorted(self.pools))
        self.num_images = num_images

    def encode_index(self, t, g):
        return (t - 1) * self.num_images + g

    def decode(self, idx):
        return idx // self.num_images + 1, idx % self.num_images


def _pools():
    ppp = list(range(0, 40))
    psg = list(range(100, 130))
    ent = list(range(200, 260))
    paco = list(range(300, 310))
    return {
        1: dict(ppp=ppp, psg=psg, ent=ent),
        2: dict(ppp=ppp),
        3: dict(psg=psg),
        4: dict(ppp=ppp, psg=psg, ent=ent, paco=paco),
        5: dict(ppp=ppp, paco=paco),
        6: dict(psg=psg),
        7: dict(ppp=ppp, paco=paco),
        8: dict(psg=psg[:20]),
    }


def _sampler(ds, rank=0, world_size=1, **kwargs):
    with mock.patch(
            'mmaims.datasets.samplers.task_balanced_sampler.get_dist_info',
            return_value=(rank, world_size)):
        return TaskBalancedSampler(ds, **kwargs)


def test_every_batch_holds_every_type_once():
    ds = FakeTaskDataset(_pools())
    sampler = _sampler(ds, batch_size=8, seed=1)
    indices = sampler.take(8 * 50)
    for b in range(50):
        types = [ds.decode(i)[0] for i in indices[b * 8:(b + 1) * 8]]
        assert sorted(types) == list(range(1, 9))
    # images come from the right pool
    for idx in indices:
        t, g = ds.decode(idx)
        assert any(g in v for v in ds.pools[t].values())


def test_sources_drawn_uniformly_and_images_without_repeat():
    ds = FakeTaskDataset(_pools())
    sampler = _sampler(ds, batch_size=8, seed=2)
    type4 = [ds.decode(i)[1] for i in sampler.take(8 * 2000)
             if ds.decode(i)[0] == 4]
    source_of = {g: s for s, v in ds.pools[4].items() for g in v}
    counts = Counter(source_of[g] for g in type4)
    # uniform over the 4 datasets, whatever their sizes (10 to 60 images)
    for source in ('ppp', 'psg', 'ent', 'paco'):
        assert abs(counts[source] / len(type4) - 0.25) < 0.03, counts
    # within a dataset: a permutation before any repeat
    paco = [g for g in type4 if source_of[g] == 'paco']
    assert sorted(paco[:10]) == list(range(300, 310))
    assert sorted(paco[10:20]) == list(range(300, 310))


def test_deterministic_for_a_seed():
    ds = FakeTaskDataset(_pools())
    a = _sampler(ds, seed=5).take(300)
    b = _sampler(ds, seed=5).take(300)
    c = _sampler(ds, seed=6).take(300)
    assert a == b and a != c
    # iterating the sampler gives the same stream
    it = iter(_sampler(ds, seed=5))
    assert [next(it) for _ in range(300)] == a


@pytest.mark.parametrize('world_size,batch_size', [(2, 8), (8, 1), (4, 2)])
def test_ranks_draw_different_samples(world_size, batch_size):
    ds = FakeTaskDataset(_pools())
    per_rank = [
        _sampler(ds, rank=r, world_size=world_size, batch_size=batch_size,
                 seed=3).take(batch_size * 4) for r in range(world_size)
    ]
    # no (type, image) twice while no dataset is exhausted
    flat = [i for r in per_rank for i in r]
    assert len(set(flat)) == len(flat)
    # every global batch holds each of the 8 types the same number of times
    for step in range(4):
        batch = [
            ds.decode(i)[0] for r in per_rank
            for i in r[step * batch_size:(step + 1) * batch_size]
        ]
        counts = Counter(batch)
        assert set(counts) == set(range(1, 9))
        assert len(set(counts.values())) == 1


def test_disabled_types_never_drawn():
    pools = _pools()
    for t in (3, 6, 8):
        del pools[t]
    ds = FakeTaskDataset(pools)
    sampler = _sampler(ds, batch_size=5, seed=0)
    indices = sampler.take(500)
    types = [ds.decode(i)[0] for i in indices]
    assert set(types) == {1, 2, 4, 5, 7}
    for b in range(100):
        assert sorted(types[b * 5:(b + 1) * 5]) == [1, 2, 4, 5, 7]
    assert len(sampler) == sum(
        len(v) for p in ds.pools.values() for v in p.values())


def test_needs_a_task_dataset():
    with pytest.raises(TypeError):
        _sampler(list(range(10)))
