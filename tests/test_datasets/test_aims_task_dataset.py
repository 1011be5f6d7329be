# Copyright (c) mmaims contributors. All rights reserved.
from collections import Counter

import numpy as np
import pytest

from mmaims.datasets import AIMSTaskDataset, HierarchicalCocoDataset
from mmaims.datasets.samplers import TaskBalancedSampler
from mmaims.utils import register_all_modules

SYNTH_MAP = dict(
    coco=[], entityseg='toy_entityseg', ppp='toy_ppp', psg='toy_psg',
    paco='toy_paco')


def _inner(root, split='train'):
    return dict(
        type='HierarchicalCocoDataset',
        data_root=root,
        ann_file=f'annotations/{split}.json',
        data_prefix=dict(img='images/'),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=[])


def _pipeline(crop=False):
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadHierarchicalAnnotations'),
        dict(type='HierarchicalRandomFlip', prob=0.5),
    ]
    if crop:
        pipeline.append(dict(type='HierarchicalRandomCrop', crop_size=(64,
                                                                       64)))
    return pipeline + [
        dict(type='FilterHierarchicalAnnotations', min_gt_mask_area=4),
        dict(type='SampleTaskPrompt'),
        dict(type='PackAIMSInputs')
    ]


def test_pools_follow_table5_and_levels(synthetic_root):
    register_all_modules()
    ds = AIMSTaskDataset(
        datasets=[_inner(synthetic_root)], source_map=SYNTH_MAP,
        pipeline=_pipeline())
    assert ds.sample_types == tuple(range(1, 9))
    sources = {t: set(p) for t, p in ds.pools.items()}
    assert sources[1] == {'toy_ppp', 'toy_psg', 'toy_entityseg'}
    assert sources[2] == {'toy_ppp'}
    assert sources[3] == {'toy_psg'}
    assert sources[4] == {'toy_ppp', 'toy_psg', 'toy_entityseg', 'toy_paco'}
    assert sources[5] == {'toy_ppp', 'toy_paco'}
    assert sources[6] == {'toy_psg'}
    assert sources[7] == {'toy_ppp', 'toy_paco'}
    assert sources[8] == {'toy_psg'}
    assert len(ds) == 8 * ds.num_images
    for t in range(1, 9):
        for g in np.concatenate(list(ds.pools[t].values())):
            assert ds.decode_index(ds.encode_index(t, g)) == (t, g)


def test_every_sample_type_through_the_pipeline(synthetic_root):
    register_all_modules()
    np.random.seed(0)
    ds = AIMSTaskDataset(
        datasets=[_inner(synthetic_root)], source_map=SYNTH_MAP,
        pipeline=_pipeline(crop=True))
    sampler = TaskBalancedSampler(ds, batch_size=8, seed=0)
    seen = Counter()
    for idx in sampler.take(24):
        out = ds[idx]
        sample = out['data_samples']
        t, g = ds.decode_index(idx)
        task = sample.task
        assert task['sample_type'] == t
        seen[t] += 1
        prompt = sample.prompt_mask.data[0].bool()
        assert prompt.any()
        if task['prompt_type'] == 'full':
            assert prompt.all()
        else:
            # every entity target lies inside the prompt
            for m in sample.gt_instances.masks.masks:
                assert not (m.astype(bool) & ~prompt.numpy()).any()
        if t == 8:
            assert len(sample.gt_instances) == 2
        if t == 7:
            assert len(sample.gt_instances) == 1
            assert len(sample.gt_part_instances) >= 1
        n_e = len(sample.gt_instances)
        assert ((sample.gt_part_instances.entity_index >= -1) &
                (sample.gt_part_instances.entity_index < n_e)).all()
        assert ((sample.gt_relation_instances.entity_index >= 0) &
                (sample.gt_relation_instances.entity_index < n_e)).all()
    assert seen == {t: 3 for t in range(1, 9)}


def test_switch_off_types_and_datasets(synthetic_root):
    register_all_modules()
    ds = AIMSTaskDataset(
        datasets=[_inner(synthetic_root)], source_map=SYNTH_MAP,
        sample_types=(1, 4, 7), exclude_sources=['paco'],
        pipeline=_pipeline())
    assert ds.sample_types == (1, 4, 7)
    assert 'toy_paco' not in ds.pools[4] and 'toy_paco' not in ds.pools[7]
    with pytest.raises(ValueError, match='has no image'):
        AIMSTaskDataset(
            datasets=[_inner(synthetic_root)], source_map=SYNTH_MAP,
            exclude_sources=['psg'], pipeline=_pipeline())
    ds = AIMSTaskDataset(
        datasets=[_inner(synthetic_root)], source_map=SYNTH_MAP,
        exclude_sources=['toy_psg'], allow_empty_types=True,
        pipeline=_pipeline())
    assert ds.sample_types == (1, 2, 4, 5, 7)
    with pytest.raises(ValueError, match='disabled'):
        ds[ds.encode_index(8, 0)]


def test_concatenates_datasets_and_refetches(synthetic_root):
    register_all_modules()
    ds = AIMSTaskDataset(
        datasets=[
            _inner(synthetic_root),
            HierarchicalCocoDataset(
                data_root=synthetic_root,
                ann_file='annotations/val.json',
                data_prefix=dict(img='images/'),
                pipeline=[])
        ],
        source_map=SYNTH_MAP,
        pipeline=_pipeline())
    assert ds.num_images == 24 + 6
    # a val image (index >= 24) is in the pools
    assert max(g for p in ds.pools[2].values() for g in p) >= 24
    # an image that cannot serve type 8 (a toy_ppp image) is replaced
    ppp = int(ds.pools[2]['toy_ppp'][0])
    out = ds[ds.encode_index(8, ppp)]
    assert out['data_samples'].task['sample_type'] == 8
    assert out['data_samples'].source == 'toy_psg'
    # the served sample names the sampler's draw it answers
    assert out['data_samples'].sample_index == ds.encode_index(8, ppp)
    # the replacement depends on the index only, not on the global RNG
    # (a resumed run serves the replacement an uninterrupted one serves,
    # when the same image is rejected)
    chosen = set()
    for seed in range(4):
        np.random.seed(seed)
        chosen.add(ds[ds.encode_index(8, ppp)]['data_samples'].img_path)
    assert len(chosen) == 1
