# Copyright (c) mmaims contributors. All rights reserved.
import numpy as np

from mmaims.structures import (build_hierarchy, encode_mask, hierarchy_edges,
                               hierarchy_nodes)


def _mask(mask_id, level, x0, x1, score, image_id=3):
    m = np.zeros((10, 20), np.uint8)
    m[2:8, x0:x1] = 1
    return dict(
        id=mask_id,
        image_id=image_id,
        level=level,
        segmentation=encode_mask(m),
        score=score)


def _link(kind, parent, child, score, image_id=3):
    return dict(
        image_id=image_id,
        type=kind,
        parent_id=parent,
        child_id=child,
        score=score)


def predictions():
    masks = [
        _mask(1, 'part', 0, 2, 0.9),  # best parent: entity 10
        _mask(2, 'part', 2, 4, 0.8),  # best parent: entity 11
        _mask(3, 'part', 4, 6, 0.7),  # no link: loose
        _mask(4, 'part', 6, 8, 0.1),  # below the threshold
        _mask(10, 'entity', 0, 4, 0.95),
        _mask(11, 'entity', 4, 8, 0.85),
        _mask(12, 'entity', 8, 12, 0.75),
        _mask(13, 'entity', 12, 16, 0.65),  # in no relation
        _mask(20, 'relation', 0, 8, 0.9),
        _mask(21, 'relation', 4, 12, 0.6),
        _mask(99, 'entity', 0, 20, 0.99, image_id=4),  # another image
    ]
    links = [
        _link('entity-part', 10, 1, 0.8),
        _link('entity-part', 11, 1, 0.3),
        _link('entity-part', 10, 2, 0.2),
        _link('entity-part', 11, 2, 0.7),
        _link('entity-part', 12, 4, 0.9),  # child below the threshold
        _link('relation-entity', 20, 10, 0.9),
        _link('relation-entity', 20, 11, 0.8),
        _link('relation-entity', 20, 12, 0.1),  # third: not kept
        _link('relation-entity', 21, 11, 0.7),
        _link('relation-entity', 21, 12, 0.6),
        _link('entity-part', 99, 1, 0.9, image_id=4),
    ]
    return dict(masks=masks, links=links)


def ids(nodes):
    return [n['id'] for n in nodes]


def test_build_hierarchy():
    tree = build_hierarchy(predictions(), score_thr=0.3)
    assert tree['image_id'] == 3 and tree['score_thr'] == 0.3
    assert tree['num_masks'] == dict(part=3, entity=4, relation=2)
    r20, r21 = tree['relations']
    assert (r20['id'], r21['id']) == (20, 21)
    assert ids(r20['entities']) == [10, 11]
    assert [e['link_score'] for e in r20['entities']] == [0.9, 0.8]
    # an entity in two relations appears under both, with its parts
    assert ids(r21['entities']) == [11, 12]
    assert ids(r20['entities'][0]['parts']) == [1]
    assert ids(r20['entities'][1]['parts']) == [2]
    assert r21['entities'][0]['parts'] == r20['entities'][1]['parts']
    assert r20['entities'][1]['parts'][0]['link_score'] == 0.7
    assert ids(tree['entities']) == [13]
    assert ids(tree['parts']) == [3]
    node = tree['parts'][0]
    assert node == dict(
        id=3, level='part', score=0.7, area=12, bbox=[4.0, 2.0, 2.0, 6.0])
    assert 'prompt' not in tree


def test_edges_and_nodes():
    tree = build_hierarchy(predictions(), score_thr=0.3)
    assert hierarchy_edges(tree) == [(20, 10, 0.9),
                                     (10, 1, 0.8), (20, 11, 0.8), (11, 2, 0.7),
                                     (21, 11, 0.7), (21, 12, 0.6)]
    nodes = hierarchy_nodes(tree)
    assert ids(nodes['relation']) == [20, 21]
    assert ids(nodes['entity']) == [10, 11, 12, 13]
    assert ids(nodes['part']) == [1, 2, 3]


def test_threshold_image_and_prompt():
    tree = build_hierarchy(predictions(), score_thr=0.0)
    assert ids(tree['entities']) == [13]  # still in no relation
    assert tree['num_masks']['part'] == 4
    # without the threshold part 4 hangs under entity 12
    r21 = tree['relations'][1]
    assert ids(r21['entities'][1]['parts']) == [4]
    tree = build_hierarchy(
        predictions(), score_thr=0.3, image_id=4, prompt=dict(decoder='part'))
    assert ids(tree['entities']) == [99] and tree['parts'] == []
    assert tree['entities'][0]['parts'] == []
    assert tree['prompt'] == dict(decoder='part')
    empty = build_hierarchy(dict(masks=[], links=[]))
    assert empty['relations'] == empty['entities'] == empty['parts'] == []
