# Copyright (c) mmaims contributors. All rights reserved.
"""RLE counts are checked before pycocotools sees them (a bad one made
``mask.merge`` loop forever and a negative one raise ``OverflowError``)."""
import json
import subprocess
import sys

import numpy as np
import pycocotools.mask as mask_util
import pytest

from mmaims.structures.mask import _string_counts, check_rle_counts, to_rle


def _runs(mask):
    """Column-major run lengths of a mask, starting with zeros."""
    flat = mask.flatten(order='F').astype(np.int8)
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1,
                             [flat.size]])
    runs = np.diff(bounds).tolist()
    return [0] + runs if flat[0] else runs


def test_compressed_counts_decode_like_pycocotools():
    rng = np.random.default_rng(0)
    for i in range(60):
        h, w = rng.integers(1, 40, 2)
        mask = rng.random((h, w)) < rng.random()
        if i % 4 == 0:
            mask[:] = i % 8 == 0  # empty and full masks
        rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert _string_counts(rle['counts']).tolist() == _runs(mask)
        assert _string_counts(rle['counts'].decode()).tolist() == _runs(mask)
        check_rle_counts(rle)


def _compressed(mask):
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return rle['counts'].decode()


@pytest.mark.parametrize('rle,message', [
    (dict(size=[4, 5], counts=_compressed(np.ones((4, 4), bool))),
     'compressed RLE counts sum to 16, not height x width = 20'),
    (dict(size=[1, 1], counts='A'), 'compressed RLE has a negative count'),
    (dict(size=[2, 2], counts='1~'), "character '~' outside"),
    (dict(size=[2, 2], counts='0P'), 'ends in the middle of a number'),
    (dict(size=[2, 2], counts=[1, -1, 4]), 'uncompressed RLE has a negative'),
    (dict(size=[2, 2], counts=[1, 2]),
     'uncompressed RLE counts sum to 3, not height x width = 4'),
    (dict(size=[2, 2], counts=[1, 2.5, 0.5]), 'must be integers'),
])
def test_bad_counts_are_refused(rle, message):
    with pytest.raises(ValueError, match=message):
        check_rle_counts(rle)
    with pytest.raises(ValueError, match=message):
        to_rle(rle, *rle['size'])


def test_bad_rle_in_an_annotation_file_is_an_error_not_a_hang(tmp_path):
    """A relation whose compressed RLE does not add up: the dataset's union
    check used to merge it and never return."""
    ent = np.zeros((4, 5), bool)
    ent[:2] = True
    good = dict(size=[4, 5], counts=_compressed(ent))
    bad = dict(size=[4, 5], counts=_compressed(np.ones((4, 4), bool)))
    ann_file = tmp_path / 'ann.json'
    ann_file.write_text(json.dumps(dict(
        images=[dict(id=1, file_name='a.png', height=4, width=5,
                     levels=['entity', 'relation'])],
        annotations=[
            dict(id=1, image_id=1, level='entity', segmentation=good,
                 iscrowd=0),
            dict(id=2, image_id=1, level='entity', segmentation=good,
                 iscrowd=0),
            dict(id=3, image_id=1, level='relation', segmentation=bad,
                 entity_ids=[1, 2], iscrowd=0),
        ])))
    code = ('from mmaims.structures import load_annotation_file, '
            'parse_annotations\n'
            f'parse_annotations(load_annotation_file({str(ann_file)!r}), '
            '"ann.json")')
    out = subprocess.run([sys.executable, '-c', code],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert 'annotation id 3' in out.stderr
    assert 'compressed RLE counts sum to 16, not height x width = 20' \
        in out.stderr


def test_bad_rle_in_a_prediction_file_names_the_mask():
    from mmaims.structures import validate_predictions
    gt = dict(images=[dict(id=1, height=4, width=5)])
    bad = dict(size=[4, 5], counts=_compressed(np.ones((4, 4), bool)))
    preds = dict(
        masks=[
            dict(id=7, image_id=1, level='entity', segmentation=bad,
                 score=0.5)
        ],
        links=[])
    with pytest.raises(ValueError, match='mask id 7 .*counts sum to 16'):
        validate_predictions(preds, gt)


def test_mask_bboxes_equal_mmdet_mask2bbox():
    import torch
    from mmdet.structures.mask import mask2bbox

    from mmaims.structures import mask_bboxes
    torch.manual_seed(0)
    masks = torch.rand(12, 17, 23) > 0.97  # sparse: boxes of all sizes
    masks[3] = False  # empty
    masks[4] = False
    masks[4, 16, 22] = True  # the last pixel only
    masks[5] = True  # everything
    boxes = mask_bboxes(masks)
    assert boxes.dtype == torch.float32
    assert torch.equal(boxes, mask2bbox(masks))
    assert boxes[3].tolist() == [0, 0, 0, 0]
    assert boxes[4].tolist() == [22, 16, 23, 17]
    assert mask_bboxes(masks[:0]).shape == (0, 4)
