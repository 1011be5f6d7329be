# Copyright (c) mmaims contributors. All rights reserved.
import json

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData

from mmaims.structures import (decode_rle, load_predictions, merge_predictions,
                               samples_to_predictions, validate_predictions)

H, W = 6, 5


def _masks(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, H, W)) < 0.4


def _sample(img_id=7):
    sample = DetDataSample(metainfo=dict(img_id=img_id, ori_shape=(H, W)))
    sample.pred_instances = InstanceData(
        masks=torch.from_numpy(_masks(2, 1)), scores=torch.tensor([.9, .4]))
    sample.pred_part_instances = InstanceData(
        masks=torch.from_numpy(_masks(3, 2)),
        scores=torch.tensor([.8, .7, .6]))
    sample.pred_relation_instances = InstanceData(
        masks=torch.from_numpy(_masks(1, 3)), scores=torch.tensor([.5]))
    sample.pred_entity_part_links = InstanceData(
        parent_index=torch.tensor([0, 1]),
        child_index=torch.tensor([2, 0]),
        scores=torch.tensor([.3, .2]))
    sample.pred_relation_entity_links = InstanceData(
        parent_index=torch.tensor([0]),
        child_index=torch.tensor([1]),
        scores=torch.tensor([.1]))
    return sample


def _gt(img_ids=(7, 8)):
    return dict(images=[
        dict(id=i, height=H, width=W, levels=['entity']) for i in img_ids
    ])


def test_samples_to_predictions_ids_and_links():
    sample = _sample()
    out = samples_to_predictions([sample, sample.to_dict()], start_id=10)
    masks = out['masks']
    assert [m['id'] for m in masks] == list(range(10, 22))
    assert [m['level'] for m in masks[:6]] == ['part'] * 3 + ['entity'] * 2 \
        + ['relation']
    np.testing.assert_array_equal(
        decode_rle(masks[3]['segmentation']),
        _masks(2, 1)[0])
    assert masks[0]['score'] == pytest.approx(.8)
    links = out['links']
    assert len(links) == 6
    # entity row 0 = id 13, part row 2 = id 12; second sample offset 6.
    assert (links[0]['parent_id'], links[0]['child_id']) == (13, 12)
    assert (links[2]['type'], links[2]['parent_id'],
            links[2]['child_id']) == ('relation-entity', 15, 14)
    assert (links[3]['parent_id'], links[3]['child_id']) == (19, 18)
    validate_predictions(out, _gt())


def test_samples_to_predictions_accepts_bitmap_masks_and_missing_levels():
    sample = DetDataSample(metainfo=dict(img_id=8, ori_shape=(H, W)))
    sample.pred_instances = InstanceData(
        masks=BitmapMasks(_masks(2).astype(np.uint8), H, W),
        scores=torch.tensor([.5, .6]))
    out = samples_to_predictions([sample])
    assert [m['level'] for m in out['masks']] == ['entity', 'entity']
    assert out['links'] == []


def test_samples_to_predictions_errors():
    sample = _sample()
    sample.pred_entity_part_links.child_index[0] = 3
    with pytest.raises(
            ValueError,
            match='image id 7: a link of type '
            '"entity-part" points at part prediction 3'):
        samples_to_predictions([sample])
    sample = _sample()
    sample.set_metainfo(dict(ori_shape=(H + 1, W)))
    with pytest.raises(ValueError, match='must be at ori_shape'):
        samples_to_predictions([sample])
    sample = DetDataSample(metainfo=dict(ori_shape=(H, W)))
    with pytest.raises(ValueError, match='no "img_id"'):
        samples_to_predictions([sample])


def test_merge_predictions_renumbers():
    a = samples_to_predictions([_sample(7)])
    b = samples_to_predictions([_sample(8)])
    merged = merge_predictions([a, b])
    assert [m['id'] for m in merged['masks']] == list(range(1, 13))
    assert merged['links'][3]['parent_id'] == 6 + a['links'][0]['parent_id']
    validate_predictions(merged, _gt())


def _valid():
    return samples_to_predictions([_sample(7)])


@pytest.mark.parametrize(
    'edit, message',
    [
        (lambda p: p['masks'][0].update(image_id=99),
         r'mask id 1 \(image id 99\): unknown image id 99'),
        (lambda p: p['masks'][1].update(level='object'),
         'mask id 2 .*unknown level "object"'),
        (lambda p: p['links'][0].update(child_id=555),
         r'links\[0\] \(image id 7\): child_id 555 is an unknown mask id'),
        (lambda p: p['links'][1].update(type='part-entity'),
         r'links\[1\] .*wrong link type "part-entity"'),
        # entity-part link whose parent is a part mask
        (lambda p: p['links'][0].update(parent_id=1),
         'wrong link type: a "entity-part" link needs a entity parent, but '
         'mask id 1 is a part'),
        (lambda p: p['links'][2].update(image_id=8),
         'parent_id 6 is a mask of image id 7'),
        (lambda p: p['masks'][2].update(id=1), 'mask id 1 .*duplicate'),
        (lambda p: p['masks'][0].update(score='high'), 'finite number'),
        (lambda p: p['masks'][0]['segmentation'].update(size=[3, 3]),
         r'mask size \[3, 3\] differs from the image size \[6, 5\]'),
        (lambda p: p['links'][0].pop('score'), r'links\[0\] has no "score"'),
    ])
def test_validate_predictions_errors(edit, message):
    preds = _valid()
    edit(preds)
    with pytest.raises(ValueError, match=message):
        validate_predictions(preds, _gt(), file_name='p.json')


def test_load_predictions_file_and_polygons(tmp_path):
    preds = _valid()
    preds['masks'][0]['segmentation'] = [[0, 0, 4, 0, 4, 3, 0, 3]]
    preds['extra'] = {'model': 'sam'}
    path = tmp_path / 'p.json'
    path.write_text(json.dumps(preds))
    loaded = load_predictions(str(path), _gt())
    assert isinstance(loaded['masks'][0]['segmentation']['counts'], str)
    assert loaded['masks'][0]['segmentation']['size'] == [H, W]
    assert loaded['extra'] == {'model': 'sam'}
    with pytest.raises(ValueError, match='polygon segmentation needs'):
        load_predictions(str(path))
    bad = tmp_path / 'bad.json'
    bad.write_text('{"masks": [')
    with pytest.raises(ValueError, match='bad.json: not valid JSON'):
        load_predictions(str(bad), _gt())
    with pytest.raises(ValueError, match='not a prediction file'):
        validate_predictions({'links': []})
