# Copyright (c) mmaims contributors. All rights reserved.
"""The non-overlapping id map PNG (docs/formats.md section 2.1)."""
import cv2
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmaims.evaluation.functional import make_disjoint_rles
from mmaims.structures import (decode_rle, encode_mask, id_map_to_masks,
                               load_id_map, masks_to_id_map,
                               prediction_to_id_map, samples_to_predictions,
                               save_id_map)

H, W = 7, 9


def _box(y0, y1, x0, x1):
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def _prediction():
    """One image: 2 parts, 3 entities (two overlapping), 1 relation."""
    sample = DetDataSample(metainfo=dict(img_id=4, ori_shape=(H, W)))
    sample.pred_part_instances = InstanceData(
        masks=torch.from_numpy(np.stack([_box(0, 2, 0, 2),
                                         _box(1, 3, 1, 4)])),
        scores=torch.tensor([.6, .8]))
    sample.pred_instances = InstanceData(
        masks=torch.from_numpy(
            np.stack([_box(0, 4, 0, 4),
                      _box(2, 6, 2, 7),
                      _box(5, 7, 7, 9)])),
        scores=torch.tensor([.5, .9, .2]))
    sample.pred_relation_instances = InstanceData(
        masks=torch.from_numpy(_box(0, 6, 0, 7)[None]),
        scores=torch.tensor([.7]))
    prediction = samples_to_predictions([sample])
    prediction.update(height=H, width=W)
    return prediction


def test_overlap_goes_to_the_higher_score_and_ids_are_the_files():
    prediction = _prediction()
    entities = [m for m in prediction['masks'] if m['level'] == 'entity']
    # parts come first in the file: the entity ids are 3, 4, 5
    assert [m['id'] for m in entities] == [3, 4, 5]
    id_map = prediction_to_id_map(prediction)
    assert id_map.dtype == np.uint16 and id_map.shape == (H, W)
    # entity 4 (score .9) wins the overlap with entity 3 (score .5)
    assert id_map[3, 3] == 4 and id_map[0, 0] == 3 and id_map[6, 8] == 5
    assert id_map[6, 0] == 0
    masks = id_map_to_masks(id_map)
    assert list(masks) == [3, 4, 5]
    # the map holds the masks of the project's non-overlap rule
    keep, disjoint = make_disjoint_rles([m['segmentation'] for m in entities],
                                        [m['score'] for m in entities],
                                        [m['id'] for m in entities])
    for row, rle in zip(keep.tolist(), disjoint):
        np.testing.assert_array_equal(masks[entities[row]['id']],
                                      decode_rle(rle))
    parts = id_map_to_masks(prediction_to_id_map(prediction, 'part'))
    assert list(parts) == [1, 2] and parts[2][1, 1] and not parts[1][1, 1]


def test_score_threshold_and_ties():
    prediction = _prediction()
    # the .5 and .2 entities are left out; the .9 one is whole
    id_map = prediction_to_id_map(prediction, score_thr=0.5)
    assert list(id_map_to_masks(id_map)) == [4]
    np.testing.assert_array_equal(id_map == 4, _box(2, 6, 2, 7))
    # equal scores: the lower id wins
    rles = [encode_mask(_box(0, 4, 0, 4)), encode_mask(_box(2, 6, 2, 7))]
    tied = masks_to_id_map(rles, [.5, .5], [9, 8], (H, W))
    assert tied[3, 3] == 8 and tied[0, 0] == 9


def test_round_trip_through_the_png(tmp_path):
    id_map = prediction_to_id_map(_prediction())
    # ids above 255 need the 16 bits
    id_map[id_map == 5] = 65535
    path = tmp_path / 'idmap' / 'scene_entity.png'
    save_id_map(id_map, str(path))
    assert [p.name for p in path.parent.iterdir()] == ['scene_entity.png']
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and raw.shape == (H, W)
    loaded = load_id_map(str(path))
    np.testing.assert_array_equal(loaded, id_map)
    assert list(id_map_to_masks(loaded)) == [3, 4, 65535]
    # no mask: an all-zero map of the image's size
    empty = prediction_to_id_map(dict(masks=[], height=3, width=4))
    assert empty.shape == (3, 4) and not empty.any()
    assert id_map_to_masks(empty) == {}


def test_errors(tmp_path):
    prediction = _prediction()
    with pytest.raises(ValueError, match='relation level: its masks overlap'):
        prediction_to_id_map(prediction, 'relation')
    many = dict(
        prediction,
        masks=[dict(m, id=m['id'] + 65532) for m in prediction['masks']])
    with pytest.raises(
            ValueError,
            match='image id 4: entity id map: mask id 65536 does not fit a '
            '16-bit id map .* more than 65535 masks'):
        prediction_to_id_map(many)
    with pytest.raises(ValueError, match='ids start at 1'):
        masks_to_id_map([encode_mask(_box(0, 1, 0, 1))], [.5], [0], (H, W))
    two_images = dict(masks=prediction['masks'] +
                      [dict(prediction['masks'][0], id=99, image_id=5)])
    with pytest.raises(ValueError, match=r'images \[4, 5\]; choose one'):
        prediction_to_id_map(two_images)
    assert prediction_to_id_map(two_images, 'part', image_id=4)[0, 0] == 1
    rgb = tmp_path / 'rgb.png'
    cv2.imwrite(str(rgb), np.zeros((H, W, 3), np.uint8))
    with pytest.raises(ValueError, match='rgb.png: not an id map'):
        load_id_map(str(rgb))
    with pytest.raises(ValueError, match='ids must be in 0..65535'):
        save_id_map(np.full((2, 2), 70000), str(tmp_path / 'big.png'))
