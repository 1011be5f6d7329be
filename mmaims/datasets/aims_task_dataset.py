# Copyright (c) mmaims contributors. All rights reserved.
"""Dataset wrapper whose indices are (sample type, image) pairs."""
import copy
from collections import Counter, OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset, Compose
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

from mmaims.registry import DATASETS
from mmaims.structures.tasks import DEFAULT_POOLS, SAMPLE_TYPES
from .task_prompts import can_serve, image_statistics

NUM_TYPES = len(SAMPLE_TYPES)
SourceNames = Union[None, str, Sequence[str]]


@DATASETS.register_module()
class AIMSTaskDataset:
    """Multi-dataset, multi-task training set of AIMS (paper Table 5).

    It concatenates hierarchical datasets and exposes the index space
    ``(sample_type - 1) * num_images + image_index``: item ``i`` is image
    ``i % num_images`` served as sample type ``i // num_images + 1``. The
    wrapper puts ``sample_type`` into the results dict before its
    ``pipeline`` (which must contain :class:`SampleTaskPrompt`) runs.
    :class:`TaskBalancedSampler` draws the indices.

    For every enabled sample type, the wrapper builds its **pool**: the
    images whose ``source`` belongs to the type's datasets and that can
    serve the type (:func:`mmaims.datasets.task_prompts.can_serve`),
    grouped by source. Pools are given with the paper's dataset names
    (``coco``, ``entityseg``, ``ppp``, ``psg``, ``paco``); ``source_map``
    translates each name into the ``source`` values found in the files.

    Args:
        datasets (list[dict | BaseDataset]): Hierarchical datasets (configs
            or instances), usually :class:`HierarchicalCocoDataset` with
            an empty pipeline: the wrapper's pipeline is applied.
        pipeline (list[dict]): Pipeline run on every sample.
        sample_types (Sequence[int]): Enabled sample types (Table 6
            ablations). Defaults to 1..8.
        pools (dict[int, Sequence[str]], optional): Sample type -> dataset
            names. Defaults to :data:`DEFAULT_POOLS` (Table 5).
        source_map (dict[str, str | Sequence[str]], optional): Dataset name
            -> ``source`` value(s) of the files. Names absent from the map
            are used as source values themselves. Defaults to identity.
        exclude_sources (Sequence[str]): Dataset names or source values
            switched off everywhere (supplement Table 3 ablations).
        allow_empty_types (bool): If False (default), an enabled type whose
            pool is empty raises ValueError; if True it is disabled with a
            warning.
        max_refetch (int): How many other images of the same pool are tried
            when the pipeline returns None. Defaults to 50.
        lazy_init (bool): Whether to defer loading the datasets until first
            use. Defaults to False.
    """

    def __init__(self,
                 datasets: Sequence[Union[dict, BaseDataset]],
                 pipeline: List[dict],
                 sample_types: Sequence[int] = tuple(range(1, NUM_TYPES + 1)),
                 pools: Optional[Mapping[int, Sequence[str]]] = None,
                 source_map: Optional[Mapping[str, SourceNames]] = None,
                 exclude_sources: Sequence[str] = (),
                 allow_empty_types: bool = False,
                 max_refetch: int = 50,
                 lazy_init: bool = False) -> None:
        self.datasets: List[BaseDataset] = []
        for dataset in datasets:
            if isinstance(dataset, dict):
                self.datasets.append(DATASETS.build(dataset))
            elif isinstance(dataset, BaseDataset):
                self.datasets.append(dataset)
            else:
                raise TypeError('datasets must be configs or BaseDataset '
                                f'instances, got {type(dataset).__name__}')
        if not self.datasets:
            raise ValueError('AIMSTaskDataset needs at least one dataset')
        for t in sample_types:
            if t not in SAMPLE_TYPES:
                raise ValueError(f'unknown sample type {t}; expected 1..8')
        self.requested_types = tuple(sorted(set(int(t) for t in sample_types)))
        pools = DEFAULT_POOLS if pools is None else pools
        self.pool_names = {
            int(t): tuple(pools.get(t, pools.get(str(t), ())))
            for t in self.requested_types
        }
        self.source_map = dict(source_map or {})
        self.exclude_sources = set(exclude_sources)
        self.allow_empty_types = allow_empty_types
        self.max_refetch = max_refetch
        self.pipeline = Compose(pipeline)
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """Metainfo of the first dataset."""
        return copy.deepcopy(self.datasets[0].metainfo)

    def full_init(self) -> None:
        """Load the datasets and build the pools."""
        if self._fully_initialized:
            return
        for dataset in self.datasets:
            dataset.full_init()
        self._offsets = np.cumsum([0] + [len(d) for d in self.datasets])
        self.num_images = int(self._offsets[-1])
        self.pools = self._build_pools()
        self.sample_types = tuple(sorted(self.pools))
        self._fully_initialized = True

    def _sources_of(self, name: str) -> Tuple[str, ...]:
        mapped = self.source_map.get(name, name)
        if mapped is None:
            return ()
        return (mapped, ) if isinstance(mapped, str) else tuple(mapped)

    def _build_pools(self) -> Dict[int, 'OrderedDict[str, np.ndarray]']:
        by_type: Dict[int, Dict[str, List[int]]] = {
            t: {}
            for t in self.requested_types
        }
        allowed = {}
        for t in self.requested_types:
            sources = []
            for name in self.pool_names[t]:
                if name in self.exclude_sources:
                    continue
                sources += [
                    s for s in self._sources_of(name)
                    if s not in self.exclude_sources
                ]
            allowed[t] = set(sources)
        seen_sources = Counter()
        progress = ProgressBar(self.num_images) \
            if self.num_images > 5000 else None
        for g in range(self.num_images):
            if progress is not None:
                progress.update()
            info = self.get_data_info(g)
            source = info.get('source', 'default')
            seen_sources[source] += 1
            stats = image_statistics(info['instances'])
            for t in self.requested_types:
                if source in allowed[t] and can_serve(info['levels'], stats,
                                                      t):
                    by_type[t].setdefault(source, []).append(g)

        pools = {}
        lines = []
        for t in self.requested_types:
            pool = OrderedDict((s, np.array(v, dtype=np.int64))
                               for s, v in sorted(by_type[t].items()))
            desc = ', '.join(f'{s}: {len(v)}' for s, v in pool.items())
            if not pool:
                message = (f'sample type {t} ({" -> ".join(SAMPLE_TYPES[t])})'
                           f' has no image: its pool {self.pool_names[t]} '
                           f'maps to sources {sorted(allowed[t])}, found '
                           f'sources {dict(seen_sources)}')
                if not self.allow_empty_types:
                    raise ValueError(
                        message + '. Disable the type (sample_types=...) or '
                        'set allow_empty_types=True.')
                print_log(message + '; the type is disabled.',
                          logger='current', level=30)
                continue
            pools[t] = pool
            lines.append(f'type {t}: {desc}')
        print_log('AIMSTaskDataset pools (images per source): ' +
                  '; '.join(lines), logger='current')
        return pools

    # ------------------------------------------------------------------
    def __len__(self) -> int:
        self.full_init()
        return NUM_TYPES * self.num_images

    def encode_index(self, sample_type: int, image_index: int) -> int:
        """Index of image ``image_index`` served as ``sample_type``."""
        return (int(sample_type) - 1) * self.num_images + int(image_index)

    def decode_index(self, idx: int) -> Tuple[int, int]:
        """``(sample_type, image_index)`` of a wrapper index."""
        self.full_init()
        if not 0 <= idx < len(self):
            raise IndexError(f'index {idx} out of range [0, {len(self)})')
        return idx // self.num_images + 1, idx % self.num_images

    def get_data_info(self, image_index: int) -> dict:
        """Data info of the ``image_index``-th image over all datasets."""
        d = int(np.searchsorted(self._offsets, image_index, side='right')) - 1
        return self.datasets[d].get_data_info(image_index -
                                              int(self._offsets[d]))

    def prepare_data(self,
                     sample_type: int,
                     image_index: int,
                     sample_index: Optional[int] = None):
        """Run the pipeline on one image served as ``sample_type``.

        ``sample_index`` (the sampler's index, :meth:`decode_index`) is
        passed on as ``results['sample_index']``: ``PackAIMSInputs`` puts it
        in the metainfo, so a served sample names the draw of the sampler
        it answers even when another image replaced a rejected one.
        """
        results = copy.deepcopy(self.get_data_info(image_index))
        results['sample_type'] = sample_type
        if sample_index is not None:
            results['sample_index'] = sample_index
        return self.pipeline(results)

    def __getitem__(self, idx: int) -> dict:
        sample_type, image_index = self.decode_index(idx)
        if sample_type not in self.pools:
            raise ValueError(f'index {idx} asks for sample type '
                             f'{sample_type}, which is disabled')
        data = self.prepare_data(sample_type, image_index, idx)
        tried = [image_index]
        while data is None and len(tried) <= self.max_refetch:
            # the image could not serve the type after augmentation: use
            # another image of the same pool (same source first)
            # drawn from (index, attempt), not the worker's global RNG, so
            # that a resumed run serves the same samples as one that was
            # never interrupted (the sampler decides every index)
            rng = np.random.default_rng([idx, len(tried)])
            image_index = self._other_image(sample_type, image_index, rng)
            tried.append(image_index)
            data = self.prepare_data(sample_type, image_index, idx)
        if data is None:
            raise RuntimeError(
                f'sample type {sample_type}: the pipeline returned None for '
                f'{len(tried)} images (image indices {tried[:10]}...); check '
                'that the pipeline keeps enough annotations for this type')
        return data

    def _other_image(self, sample_type: int, image_index: int,
                     rng: np.random.Generator) -> int:
        pool = self.pools[sample_type]
        source = self.get_data_info(image_index).get('source', 'default')
        candidates = pool.get(source)
        if candidates is None or len(candidates) < 2:
            candidates = np.concatenate(list(pool.values()))
        return int(candidates[rng.integers(len(candidates))])
