# Copyright (c) mmaims contributors. All rights reserved.
import itertools
from typing import Dict, Iterator, List, Optional, Sized

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from mmaims.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class TaskBalancedSampler(Sampler):
    """Infinite sampler that balances the AIMS sample types in every batch.

    It draws from an :class:`AIMSTaskDataset`. The stream of samples is
    made of **rounds**; a round holds one sample of every enabled type for
    every rank (``T x world_size`` samples). Within a round each rank gets
    the ``T`` types in a shuffled order, rotated by ``rank * batch_size``
    so that the ranks cover different types at the same step. Hence:

    - with ``batch_size == T`` (the paper: 8 types in a batch of 8) every
      batch of every rank holds each type exactly once;
    - with ``batch_size * world_size == T`` and ``batch_size`` dividing
      ``T`` every global batch holds each type exactly once;
    - otherwise the types are balanced over consecutive batches.

    Each sample picks one of its type's datasets (``source`` values)
    uniformly, then the next image of a per-(type, source) random
    permutation of that dataset (reshuffled when exhausted), i.e. uniformly
    within the dataset and without repetition before the dataset is used
    up. All ranks simulate the same global stream from the same seed and
    keep their own positions, so ranks never draw the same (type, image)
    before a dataset is exhausted. The stream only depends on the seed, so
    resuming with mmengine's ``IterBasedTrainLoop`` (which re-iterates the
    loader) reproduces the same samples, as with ``InfiniteSampler``; the
    :class:`TaskSamplerSeedHook` of the default runtime carries the seed
    over the checkpoint, so this holds with ``randomness.seed`` unset too.

    Args:
        dataset (AIMSTaskDataset): The wrapped dataset (it owns the pools
            and which types and datasets are enabled).
        batch_size (int): Samples per rank per iteration, i.e. the
            ``train_dataloader.batch_size``. Defaults to 8.
        seed (int, optional): Random seed. If None, a seed shared by all
            ranks is drawn. Defaults to None.
        shuffle_types (bool): Shuffle the type order of each round.
            Defaults to True.
    """

    def __init__(self,
                 dataset: Sized,
                 batch_size: int = 8,
                 seed: Optional[int] = None,
                 shuffle_types: bool = True) -> None:
        if not hasattr(dataset, 'pools') or not hasattr(
                dataset, 'encode_index'):
            if hasattr(dataset, 'full_init'):
                dataset.full_init()
        if not hasattr(dataset, 'pools'):
            raise TypeError('TaskBalancedSampler needs an AIMSTaskDataset, '
                            f'got {type(dataset).__name__}')
        rank, world_size = get_dist_info()
        self.rank = rank
        self.world_size = world_size
        self.dataset = dataset
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        self.seed = sync_random_seed() if seed is None else seed
        self.shuffle_types = shuffle_types
        self.sample_types = list(dataset.sample_types)
        if not self.sample_types:
            raise ValueError('no enabled sample type has images')
        self.size = sum(
            len(v) for t in self.sample_types
            for v in dataset.pools[t].values())
        self.indices = self._indices_of_rank()

    def _global_stream(self) -> Iterator[List[int]]:
        """Yield, per round, the list of ``world_size`` sub-rounds."""
        rng = np.random.default_rng(self.seed)
        pools = self.dataset.pools
        cursors: Dict[tuple, list] = {}

        def draw(t: int) -> int:
            sources = list(pools[t])
            source = sources[int(rng.integers(len(sources)))]
            state = cursors.get((t, source))
            images = pools[t][source]
            if state is None or state[1] >= len(images):
                state = [rng.permutation(images), 0]
                cursors[(t, source)] = state
            image = int(state[0][state[1]])
            state[1] += 1
            return self.dataset.encode_index(t, image)

        num_types = len(self.sample_types)
        while True:
            order = list(self.sample_types)
            if self.shuffle_types:
                order = [order[i] for i in rng.permutation(num_types)]
            rounds = [[] for _ in range(self.world_size)]
            for step in range(num_types):
                for r in range(self.world_size):
                    shift = (r * self.batch_size) % num_types
                    rounds[r].append(draw(order[(step + shift) % num_types]))
            yield rounds

    def _indices_of_rank(self) -> Iterator[int]:
        for rounds in self._global_stream():
            yield from rounds[self.rank]

    def __iter__(self) -> Iterator[int]:
        yield from self.indices

    def __len__(self) -> int:
        """Samples of one pass over all pools, per rank."""
        return max(1, self.size // self.world_size)

    def set_seed(self, seed: int) -> None:
        """Restart the stream from ``seed`` (used by
        :class:`TaskSamplerSeedHook` when a run resumes)."""
        self.seed = int(seed)
        self.indices = self._indices_of_rank()

    def set_epoch(self, epoch: int) -> None:
        """Not used: the stream is infinite (as ``InfiniteSampler``)."""

    def take(self, n: int) -> List[int]:
        """First ``n`` indices of this rank's stream (fresh generator)."""
        return list(itertools.islice(self._indices_of_rank(), n))
