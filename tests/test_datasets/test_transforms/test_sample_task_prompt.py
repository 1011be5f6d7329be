# Copyright (c) mmaims contributors. All rights reserved.
import numpy as np
import pytest
from hier_helpers import assert_links_consistent, toy_masks

from mmaims.datasets.transforms import PackAIMSInputs, SampleTaskPrompt
from mmaims.structures import ENTITY, PART, RELATION

ALL = [PART, ENTITY, RELATION]


def _sample(toy_results, sample_type, levels=ALL, seed=0, **kwargs):
    np.random.seed(seed)
    results = toy_results(levels=levels)
    results['sample_type'] = sample_type
    return SampleTaskPrompt(**kwargs)(results)


def test_type0_evaluation(toy_results):
    out = _sample(toy_results, 0, levels=[ENTITY])
    assert out['prompt_mask'].all()
    assert out['task'] == dict(
        sample_type=0, prompt_type='full', decoder=None,
        supervision={
            PART: dict(level=PART, exhaustive=False),
            ENTITY: dict(level=ENTITY, exhaustive=True),
            RELATION: dict(level=RELATION, exhaustive=False)
        })
    assert out['gt_ann_ids'].tolist() == [1, 2, 3, 4]
    # without sample_type the default is used
    results = toy_results()
    assert SampleTaskPrompt()(results)['task']['sample_type'] == 0


@pytest.mark.parametrize('sample_type,decoder', [(1, ENTITY), (2, PART),
                                                 (3, RELATION)])
def test_full_image_types(toy_results, sample_type, decoder):
    out = _sample(toy_results, sample_type, levels=[ENTITY, decoder])
    assert out['prompt_mask'].dtype == np.uint8 and out['prompt_mask'].all()
    task = out['task']
    assert task['prompt_type'] == 'full' and task['decoder'] == decoder
    # own decoder + every other listed level (supervise_all_levels)
    assert task['supervision'] == {
        lv: dict(level=lv, exhaustive=True)
        for lv in {ENTITY, decoder}
    }
    assert out['gt_ann_ids'].tolist() == [1, 2, 3, 4]
    assert len(out['gt_part_ann_ids']) == 5
    out = _sample(
        toy_results, sample_type, levels=[ENTITY, decoder],
        supervise_all_levels=False)
    assert out['task']['supervision'] == {
        decoder: dict(level=decoder, exhaustive=True)
    }


@pytest.mark.parametrize('sample_type', [2, 3])
def test_full_image_needs_exhaustive_level(toy_results, sample_type):
    # the level is annotated but not exhaustive: cannot serve full image
    assert _sample(toy_results, sample_type, levels=[ENTITY]) is None


def test_partial_entity_prompt_is_union_of_targets(toy_results):
    e, p, r = toy_masks()
    sizes = set()
    for seed in range(20):
        out = _sample(toy_results, 4, seed=seed)
        prompt = out['prompt_mask'].astype(bool)
        chosen = [
            a for a, flag in zip(out['gt_ann_ids'].tolist(),
                                 out['gt_ignore_flags']) if not flag
        ]
        assert chosen and 4 not in chosen
        sizes.add(len(chosen))
        assert (prompt == np.any([e[a] for a in chosen], axis=0)).all()
        # crowd regions stay as ignore regions
        assert 4 in out['gt_ann_ids'].tolist()
        # parts: children of chosen entities, plus the orphan P4 only if
        # it lies inside the prompt (it does not)
        parents = {11: 1, 12: 1, 13: 2, 14: 3}
        assert sorted(out['gt_part_ann_ids'].tolist()) == sorted(
            pid for pid, ent in parents.items() if ent in chosen)
        pairs = {21: (1, 2), 22: (2, 3)}
        assert sorted(out['gt_relation_ann_ids'].tolist()) == sorted(
            rid for rid, pair in pairs.items() if set(pair) <= set(chosen))
        assert_links_consistent(out)
        task = out['task']
        assert task['prompt_type'] == 'partial'
        assert task['supervision'] == {
            lv: dict(level=lv, exhaustive=True)
            for lv in ALL
        }
    # from one entity up to all annotated ones
    assert sizes == {1, 2, 3}


def test_partial_orphan_part_inside_prompt(toy_results):
    # the orphan part P4 moved into E0 is a target iff E0 is in the prompt
    for seed in range(10):
        np.random.seed(seed)
        results = toy_results()
        results['gt_part_masks'].masks[4] = 0
        results['gt_part_masks'].masks[4, 2:6, 2:6] = 1
        results['sample_type'] = 4
        out = SampleTaskPrompt()(results)
        has_e0 = 1 in out['gt_ann_ids'].tolist()
        assert (15 in out['gt_part_ann_ids'].tolist()) == has_e0


@pytest.mark.parametrize('sample_type,decoder', [(5, PART), (6, RELATION)])
def test_partial_non_exhaustive_level_gets_a_target(toy_results,
                                                    sample_type, decoder):
    for seed in range(15):
        out = _sample(toy_results, sample_type, levels=[], seed=seed)
        prefix = f'gt_{decoder}_'
        flags = out[f'{prefix}ignore_flags']
        assert (~flags).sum() >= 1
        sup = out['task']['supervision']
        assert sup[decoder] == dict(level=decoder, exhaustive=False)
        # entity is exhaustive inside the prompt; non-listed levels are
        # not supervised by other decoders
        assert sup[ENTITY] == dict(level=ENTITY, exhaustive=True)
        assert set(sup) == {decoder, ENTITY}
        assert_links_consistent(out)


def test_partial_listed_level_may_be_empty(toy_results):
    seen_empty = False
    for seed in range(30):
        out = _sample(toy_results, 6, levels=[ENTITY, RELATION], seed=seed)
        assert out is not None
        assert out['task']['supervision'][RELATION]['exhaustive']
        seen_empty |= len(out['gt_relation_ann_ids']) == 0
    assert seen_empty


def test_type7_one_entity_to_parts(toy_results):
    e, p, r = toy_masks()
    seen = set()
    for seed in range(20):
        out = _sample(toy_results, 7, levels=[ENTITY], seed=seed)
        targets = [
            a for a, f in zip(out['gt_ann_ids'].tolist(),
                              out['gt_ignore_flags']) if not f
        ]
        assert len(targets) == 1
        ent = targets[0]
        seen.add(ent)
        assert (out['prompt_mask'].astype(bool) == e[ent]).all()
        parents = {11: 1, 12: 1, 13: 2, 14: 3}
        assert sorted(out['gt_part_ann_ids'].tolist()) == sorted(
            k for k, v in parents.items() if v == ent)
        assert (out['gt_part_entity_index'] == 0).all()
        assert len(out['gt_relation_ann_ids']) == 0
        assert out['task'] == dict(
            sample_type=7, prompt_type='one_entity', decoder=PART,
            supervision={PART: dict(level=PART, exhaustive=False)})
        assert_links_consistent(out)
    assert seen == {1, 2, 3}
    out = _sample(toy_results, 7, levels=[PART, ENTITY])
    assert out['task']['supervision'][PART]['exhaustive']


def test_type8_two_entities_to_relation_decoder(toy_results):
    e, p, r = toy_masks()
    seen = set()
    for seed in range(20):
        out = _sample(toy_results, 8, levels=[ENTITY, RELATION], seed=seed)
        rel = out['gt_relation_ann_ids'].tolist()
        assert len(rel) == 1
        seen.add(rel[0])
        pair = {21: (1, 2), 22: (2, 3)}[rel[0]]
        targets = [
            a for a, f in zip(out['gt_ann_ids'].tolist(),
                              out['gt_ignore_flags']) if not f
        ]
        assert sorted(targets) == list(pair)
        assert (out['prompt_mask'].astype(bool) == r[rel[0]]).all()
        assert out['task'] == dict(
            sample_type=8, prompt_type='two_entities', decoder=RELATION,
            supervision={RELATION: dict(level=ENTITY, exhaustive=True)})
        assert_links_consistent(out)
        sample = PackAIMSInputs()(out)['data_samples']
        assert len(sample.gt_instances) == 2
        assert sample.gt_relation_instances.entity_index.tolist() == [[0, 1]]
    assert seen == {21, 22}


def test_types_that_cannot_be_served_return_none(toy_results):
    results = toy_results()
    results['gt_part_entity_index'][:] = -1
    results['sample_type'] = 7
    assert SampleTaskPrompt()(results) is None
    results = toy_results()
    results['gt_relation_ignore_flags'][:] = True
    results['sample_type'] = 8
    assert SampleTaskPrompt()(results) is None
    results = toy_results()
    results['gt_ignore_flags'][:] = True
    results['sample_type'] = 4
    assert SampleTaskPrompt()(results) is None
    with pytest.raises(ValueError):
        SampleTaskPrompt(default_sample_type=9)


ROUGH = dict(
    prob=1.0,
    perturbations=['box', dict(type='dilate', k=2), dict(type='erode', k=1),
                   'polygon', 'strokes'])


def test_rough_prompts_keep_true_targets_and_loss_region(toy_results):
    """A roughened prompt (types 4-8) changes the prompt only: the targets
    are those of the exact prompt, and the loss region (exact | rough)
    covers every true child, also where the rough prompt missed it."""
    e, p, r = toy_masks()
    kinds = set()
    for sample_type in (4, 5, 7, 8):
        for seed in range(12):
            levels = [ENTITY, RELATION] if sample_type == 8 else ALL
            exact = _sample(toy_results, sample_type, levels, seed=seed)
            rough = _sample(
                toy_results, sample_type, levels, seed=seed,
                rough_prompts=ROUGH)
            for key in ('gt_ann_ids', 'gt_part_ann_ids',
                        'gt_relation_ann_ids', 'gt_ignore_flags'):
                assert np.array_equal(exact[key], rough[key]), key
            assert exact['task'] == rough['task']
            true = exact['prompt_mask'].astype(bool)
            given = rough['prompt_mask'].astype(bool)
            region = rough['loss_region']
            assert region.dtype == bool and given.any()
            assert np.array_equal(region, true | given)
            # the children's pixels the exact prompt supervised stay in the
            # loss region, also those the rough prompt missed
            children = rough['gt_part_masks'].masks if sample_type in (
                5, 7) else rough['gt_masks'].masks
            for child in children:
                supervised = child.astype(bool) & true
                assert not (supervised & ~region).any()
                if (supervised & ~given).any():
                    kinds.add('missed')
            if not (true & ~given).any():
                kinds.add('covered')
            assert 'loss_region' not in exact
            assert exact['prompt_rough'] is False
            assert rough['prompt_rough'] is True
            # same seed, same rough prompt
            again = _sample(
                toy_results, sample_type, levels, seed=seed,
                rough_prompts=ROUGH)
            assert np.array_equal(again['prompt_mask'], rough['prompt_mask'])
    assert kinds == {'missed', 'covered'}  # erosion / strokes miss pixels
    # full-image types are never roughened; packing carries the region
    full = _sample(toy_results, 1, seed=0, rough_prompts=ROUGH)
    assert full['prompt_mask'].all() and 'loss_region' not in full
    assert full['prompt_rough'] is False
    sample = PackAIMSInputs()(rough)['data_samples']
    assert sample.metainfo['prompt_rough'] is True
    assert sample.loss_region.data.shape == (1, *region.shape)
    assert sample.loss_region.data.dtype.is_floating_point is False


def test_image_loss_region_covers_every_prompted_sample(toy_results):
    """``loss_region='image'``: prompted samples (types 4-8), roughened or
    not, are supervised over the whole image; full-image types and the
    targets are unchanged."""
    for prob in (0.0, 1.0):
        rough = dict(ROUGH, prob=prob, loss_region='image')
        for sample_type in (4, 5, 6, 7, 8):
            levels = [ENTITY, RELATION] if sample_type == 8 else ALL
            exact = _sample(toy_results, sample_type, levels, seed=3)
            whole = _sample(toy_results, sample_type, levels, seed=3,
                            rough_prompts=rough)
            assert whole['loss_region'].dtype == bool
            assert whole['loss_region'].all(), sample_type
            for key in ('gt_ann_ids', 'gt_part_ann_ids',
                        'gt_relation_ann_ids'):
                assert np.array_equal(exact[key], whole[key]), key
            if prob == 0.0:
                assert np.array_equal(exact['prompt_mask'],
                                      whole['prompt_mask'])
        full = _sample(toy_results, 1, seed=0, rough_prompts=rough)
        assert 'loss_region' not in full


def test_loss_region_margin_grows_the_region_of_every_prompted_sample(
        toy_results):
    """``loss_region_margin=k``: the loss region of a prompted sample
    (types 4-8, roughened or not) is (exact | rough) grown by a
    ``(2k + 1)`` square; full-image types and the targets are unchanged."""
    k = 2
    for prob in (0.0, 1.0):
        rough = dict(ROUGH, prob=prob, loss_region_margin=k)
        for sample_type in (4, 5, 6, 7, 8):
            levels = [ENTITY, RELATION] if sample_type == 8 else ALL
            exact = _sample(toy_results, sample_type, levels, seed=5)
            ring = _sample(toy_results, sample_type, levels, seed=5,
                           rough_prompts=rough)
            no_ring = _sample(toy_results, sample_type, levels, seed=5,
                              rough_prompts=dict(rough, loss_region_margin=0))
            for key in ('gt_ann_ids', 'gt_part_ann_ids',
                        'gt_relation_ann_ids'):
                assert np.array_equal(exact[key], ring[key]), key
            assert np.array_equal(ring['prompt_mask'], no_ring['prompt_mask'])
            inner = no_ring.get('loss_region',
                                no_ring['prompt_mask'].astype(bool))
            region = ring['loss_region']
            assert region.dtype == bool and region.shape == inner.shape
            # grown by exactly k: each region pixel lies within k of the
            # inner region (Chebyshev), and every such pixel is in it
            ys, xs = np.nonzero(inner)
            h, w = inner.shape
            yy, xx = np.mgrid[:h, :w]
            dist = np.full((h, w), np.inf)
            for y, x in zip(ys, xs):
                dist = np.minimum(dist,
                                  np.maximum(abs(yy - y), abs(xx - x)))
            assert np.array_equal(region, dist <= k), sample_type
            assert (region & ~inner).any()
        full = _sample(toy_results, 1, seed=0, rough_prompts=rough)
        assert 'loss_region' not in full


@pytest.mark.parametrize('rough', [
    dict(prob=0.5, perturbations=['box'], loss_region='box'),
    dict(prob=0.5, perturbations=['box'], loss_region_margin=-1),
    dict(prob=0.5, perturbations=['box'], loss_region_margin=1.5),
    dict(prob=0.5, perturbations=['box'], loss_region='image',
         loss_region_margin=2),
    dict(prob=1.5, perturbations=['box']),
    dict(prob=0.5, perturbations=[]),
    dict(prob=0.5, perturbations=['blur']),
    dict(prob=0.5, perturbations=['box'], mix=1),
])
def test_rough_prompts_config_errors(rough):
    with pytest.raises(ValueError):
        SampleTaskPrompt(rough_prompts=rough)
