# Copyright (c) mmaims contributors. All rights reserved.
import numpy as np
import pytest

from mmaims.evaluation.functional import FederatedGroundTruth
from mmaims.structures import encode_mask

H, W = 4, 4


def _ann(ann_id, level, **kwargs):
    m = np.zeros((H, W), bool)
    m[ann_id % H] = True
    return dict(
        id=ann_id,
        image_id=1,
        level=level,
        segmentation=encode_mask(m),
        iscrowd=0,
        **kwargs)


def _gt(anns, **image):
    img = dict(id=1, height=H, width=W, levels=['part', 'entity', 'relation'])
    img.update(image)
    return dict(images=[img], annotations=anns)


def test_pairs_skip_crowd_and_levels_keep_file_order():
    anns = [
        _ann(1, 'entity'),
        _ann(2, 'entity'),
        dict(_ann(3, 'entity'), iscrowd=1),
        _ann(4, 'part', entity_id=2),
        _ann(5, 'part', entity_id=3),  # crowd parent: skipped
        dict(_ann(6, 'part', entity_id=1), iscrowd=1),  # crowd child
        _ann(7, 'part', entity_id=None),
        _ann(8, 'relation', entity_ids=[2, 1]),
        _ann(9, 'relation', entity_ids=[1, 3]),  # one crowd entity
        dict(_ann(10, 'part'), segmentation=[[0, 0, 3, 0, 3, 3, 0, 3]]),
    ]
    image = FederatedGroundTruth(_gt(anns), 'gt.json').images[1]
    assert image.masks['entity']['ann_ids'].tolist() == [1, 2, 3]
    assert image.masks['entity']['crowd'].tolist() == [False, False, True]
    assert image.masks['part']['ann_ids'].tolist() == [4, 5, 6, 7, 10]
    assert image.pairs['entity-part'].tolist() == [[1, 0]]
    assert image.pairs['relation-entity'].tolist() == [[0, 0], [0, 1], [1, 0]]
    assert image.source == 'default'


@pytest.mark.parametrize('anns, image, message', [
    ([_ann(1, 'part', entity_id=77)], {},
     r'gt.json: annotation id 1 \(image id 1\): "entity_id" points at 77'),
    ([_ann(1, 'entity'),
      _ann(2, 'relation', entity_ids=[1])
      ], {}, 'annotation id 2 .*must be a list of two entity ids'),
    ([_ann(1, 'part'), _ann(2, 'part', entity_id=1)
      ], {}, 'annotation id 2 .*points at 1, which is not an entity'),
    ([_ann(1, 'object')], {}, 'annotation id 1 .*unknown or missing level'),
    ([dict(_ann(1, 'part'), image_id=5)
      ], {}, 'annotation id 1: unknown image id 5'),
    ([_ann(1, 'part'), _ann(1, 'part')
      ], {}, 'annotation id 1: duplicate annotation id'),
    ([], dict(levels=['things']), 'image id 1: unknown level "things"'),
    ([], dict(levels='entity'), 'image id 1: "levels" must be a list'),
    ([dict(_ann(1, 'part'), segmentation=encode_mask(np.ones((3, 3))))], {},
     r'annotation id 1 .*mask size \[3, 3\] differs from the image size'),
])
def test_ground_truth_errors(anns, image, message):
    with pytest.raises(ValueError, match=message):
        FederatedGroundTruth(_gt(anns, **image), 'gt.json')


def test_missing_levels_key():
    gt = dict(images=[dict(id=3, height=2, width=2)], annotations=[])
    with pytest.raises(ValueError, match='image id 3: missing "levels"'):
        FederatedGroundTruth(gt, 'gt.json')
