# Copyright (c) mmaims contributors. All rights reserved.
"""The Table 1 profile of the synthetic data: each source's levels,
taxonomy and unannotated fraction, the exhaustive evaluation split, and the
same bytes for the same seed (the default profile unchanged)."""
import hashlib
import json
import os.path as osp

import pytest

from mmaims.datasets.synthetic import (_CAT_ID, RARE_KINDS,
                                       make_synthetic_dataset)
from mmaims.datasets.synthetic_table1 import (TABLE1_SOURCES,
                                              TABLE1_VAL_SOURCES,
                                              make_table1_dataset,
                                              unannotated_fraction)
from mmaims.structures import parse_annotations


@pytest.fixture(scope='module')
def table1(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('table1'))
    # 8 images of each train source, 4 of each val source
    result = make_table1_dataset(
        root, num_images=40, num_val=8, seed=0, size=96)
    data = {}
    for split in ('train', 'val'):
        with open(osp.join(root, 'annotations', f'{split}.json')) as f:
            data[split] = json.load(f)
    return root, result, data


def _by_source(data):
    out = {}
    for img in data['images']:
        out.setdefault(img['source'], []).append(img)
    return out


def _kinds(data, images):
    ids = {img['id'] for img in images}
    names = {c['id']: c['name'] for c in data['categories']}
    return {
        names[a['category_id']]
        for a in data['annotations'] if a['image_id'] in ids
    }


def test_sources_levels_and_unannotated_fraction(table1):
    _, result, data = table1
    train = _by_source(data['train'])
    assert sorted(train) == sorted(TABLE1_SOURCES)
    for source, spec in TABLE1_SOURCES.items():
        images = train[source]
        assert len(images) == 8
        assert all(img['levels'] == list(spec.levels) for img in images)
        measured = unannotated_fraction(images)
        # within 2 points of Table 1's target
        assert abs(measured - (1 - spec.annotated)) <= 0.02, source
        assert result['unannotated'][source] == pytest.approx(measured)
    val = _by_source(data['val'])
    assert sorted(val) == sorted(TABLE1_VAL_SOURCES)
    for source, spec in TABLE1_VAL_SOURCES.items():
        assert all(img['levels'] == list(spec.levels) for img in val[source])
        assert unannotated_fraction(val[source]) == 0
        assert all('valid_region' not in img for img in val[source])


def test_taxonomy_leaves_unknown_kinds_unlabeled(table1):
    _, _, data = table1
    train = _by_source(data['train'])
    for source in ('t1_coco', 't1_psg', 't1_ppp'):
        kinds = _kinds(data['train'], train[source])
        assert not kinds & set(RARE_KINDS), source
        assert 'lamp_shade' not in kinds
    assert 'mushroom' not in _kinds(data['train'], train['t1_ppp'])
    # EntitySeg (634 classes) and the evaluation know every kind
    assert set(RARE_KINDS) <= _kinds(data['train'], train['t1_entityseg'])
    val = _by_source(data['val'])
    assert set(RARE_KINDS) <= _kinds(data['val'], val['t1_eval_ppp'])
    # PACO annotates one object (and its parts) inside a small region
    paco = [
        a for a in data['train']['annotations']
        if a['image_id'] in {img['id']
                             for img in train['t1_paco']}
        and a['level'] == 'entity'
    ]
    assert len(paco) == len(train['t1_paco'])
    assert {a['category_id']
            for a in paco} <= {_CAT_ID[k]
                               for k in ('car', 'robot', 'mushroom')}


def test_granularity_differs_between_sources(table1):
    _, _, data = table1
    train = _by_source(data['train'])
    # COCO-like sources merge water into the ground (no water entity);
    # EntitySeg splits the two ponds into two entities
    for source in ('t1_coco', 't1_psg'):
        assert 'water' not in _kinds(data['train'], train[source])
    waters = {}
    for a in data['train']['annotations']:
        if a['category_id'] == _CAT_ID['water']:
            waters.setdefault(a['image_id'], 0)
            waters[a['image_id']] += 1
    entityseg = {img['id'] for img in train['t1_entityseg']}
    ppp = {img['id'] for img in train['t1_ppp']}
    assert any(n == 2 for i, n in waters.items() if i in entityseg)
    assert all(n == 1 for i, n in waters.items() if i in ppp)


def test_files_parse_and_same_seed_same_bytes(table1, tmp_path):
    root, _, data = table1
    for split in ('train', 'val'):
        assert len(list(parse_annotations(data[split], split))) == len(
            data[split]['images'])
    again = str(tmp_path / 'again')
    make_table1_dataset(again, num_images=40, num_val=8, seed=0, size=96)
    for rel in ('annotations/train.json', 'annotations/val.json',
                'images/train/000007.png', 'images/val/000003.png'):
        with open(osp.join(root, rel), 'rb') as a, \
                open(osp.join(again, rel), 'rb') as b:
            assert a.read() == b.read(), rel


def test_default_profile_is_unchanged(tmp_path):
    """The main job's data: the same annotation bytes as before the Table 1
    profile existed (md5 of the files written by commit be0a1cd)."""
    make_synthetic_dataset(str(tmp_path), num_images=5, num_val=2, seed=0)
    digests = {
        split: hashlib.md5(
            open(tmp_path / 'annotations' / f'{split}.json',
                 'rb').read()).hexdigest()
        for split in ('train', 'val')
    }
    assert digests == dict(
        train='1fd85edd7abbfb53370fe84e4d7acf7f',
        val='ff36f4fc0e32297ed1438afb7d5a3e2b')
