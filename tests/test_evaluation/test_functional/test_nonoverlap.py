# Copyright (c) mmaims contributors. All rights reserved.
import numpy as np
import pytest

from mmaims.evaluation.functional import (FederatedGroundTruth,
                                          evaluate_federated,
                                          group_predictions,
                                          make_disjoint_masks,
                                          make_disjoint_rles)
from mmaims.structures import encode_mask


def _cols(h, w, x0, x1):
    m = np.zeros((h, w), dtype=bool)
    m[:, x0:x1] = True
    return m


def test_disjoint_masks_by_score_then_lower_id(decode):
    h, w = 2, 6
    a = _cols(h, w, 0, 4)  # score 0.5, id 7
    b = _cols(h, w, 2, 6)  # score 0.5, id 3: wins the overlap (lower id)
    c = _cols(h, w, 1, 3)  # score 0.9: takes columns 1-2 first
    d = _cols(h, w, 1, 2)  # score 0.1: fully covered -> dropped
    masks = np.stack([a, b, c, d])
    keep, rles = make_disjoint_masks(
        masks, [0.5, 0.5, 0.9, 0.1], ids=[7, 3, 1, 2])
    assert keep.tolist() == [0, 1, 2]
    got = [decode(r) for r in rles]
    np.testing.assert_array_equal(got[0], _cols(h, w, 0, 1))
    np.testing.assert_array_equal(got[1], _cols(h, w, 3, 6))
    np.testing.assert_array_equal(got[2], _cols(h, w, 1, 3))
    # Same from RLEs, and with ids swapped the tie goes the other way.
    keep_r, rles_r = make_disjoint_rles([encode_mask(m) for m in masks],
                                        [0.5, 0.5, 0.9, 0.1],
                                        ids=[3, 7, 1, 2])
    assert keep_r.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(
        decode(rles_r[0]),
        _cols(h, w, 0, 1) | _cols(h, w, 3, 4))
    np.testing.assert_array_equal(decode(rles_r[1]), _cols(h, w, 4, 6))


def test_disjoint_rejects_bad_input():
    with pytest.raises(ValueError, match='scores'):
        make_disjoint_masks(np.zeros((2, 3, 3), bool), [0.1])
    with pytest.raises(ValueError, match='N x H x W'):
        make_disjoint_masks(np.zeros((3, 3), bool), [0.1])
    keep, rles = make_disjoint_rles([], [])
    assert keep.tolist() == [] and rles == []


def test_nonoverlap_ap_hand_computed():
    """GT: left half A, right half B of a 10x10 image. Predictions: the full
    image (0.9), A (0.8), B (0.7).

    Plain AP: at IoU 0.5 the full image matches B (equal IoU 0.5, later GT
    wins), A matches A, B is a duplicate: precision 1 at every recall,
    AP_50 = 1. Above 0.5: FP, TP, TP -> envelope 2/3 everywhere. mAP =
    (1 + 9 * 2/3) / 10 = 0.7.

    Non-overlap: the full image takes every pixel, A and B become empty and
    are dropped. Only the full image is left: TP at 0.5 with recall 1/2, so
    precision 1 at the 51 recall points 0..0.5 and 0 beyond: AP_50 =
    51/101; nothing above 0.5. mAP_nonoverlap = 51/101/10, its _50 = 51/101
    and its _75 = 0.
    """
    h = w = 10
    left, right = _cols(h, w, 0, 5), _cols(h, w, 5, 10)
    gt = FederatedGroundTruth(
        dict(
            images=[dict(id=1, height=h, width=w, levels=['entity'])],
            annotations=[
                dict(
                    id=i + 1,
                    image_id=1,
                    level='entity',
                    segmentation=encode_mask(m),
                    iscrowd=0) for i, m in enumerate([left, right])
            ]))
    full = np.ones((h, w), dtype=bool)
    preds = dict(masks=[
        dict(
            id=i + 1,
            image_id=1,
            level='entity',
            segmentation=encode_mask(m),
            score=s)
        for i, (m, s) in enumerate([(full, .9), (left, .8), (right, .7)])
    ])
    metrics = evaluate_federated(gt, group_predictions(preds))
    assert metrics['entity_mAP_50'] == pytest.approx(1.0, abs=1e-12)
    assert metrics['entity_mAP'] == pytest.approx(0.7, abs=1e-12)
    assert metrics['entity_mAP_nonoverlap'] == pytest.approx(
        51 / 101 / 10, abs=1e-12)
    assert metrics['entity_mAP_nonoverlap_50'] == pytest.approx(
        51 / 101, abs=1e-12)
    assert metrics['entity_mAP_nonoverlap_75'] == 0


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_disjoint_equals_per_pixel_winner(seed, decode):
    rng = np.random.default_rng(seed)
    n, h, w = 25, 9, 11
    masks = rng.random((n, h, w)) < rng.uniform(0.05, 0.6, (n, 1, 1))
    masks[3] = False  # empty from the start
    scores = np.round(rng.random(n), 1)  # many ties
    ids = rng.permutation(n) + 100
    # Per pixel: covering mask of highest score, then lowest id.
    winner = np.full((h, w), -1)
    for y in range(h):
        for x in range(w):
            cover = [i for i in range(n) if masks[i, y, x]]
            if cover:
                winner[y, x] = min(cover, key=lambda i: (-scores[i], ids[i]))
    expected = [i for i in range(n) if (winner == i).any()]
    rles = [encode_mask(m) for m in masks]
    for keep, out in (make_disjoint_masks(masks, scores, ids),
                      make_disjoint_masks(masks, scores, ids, rles=rles),
                      make_disjoint_rles(rles, scores, ids)):
        assert keep.tolist() == expected
        for i, rle in zip(keep.tolist(), out):
            np.testing.assert_array_equal(decode(rle), winner == i)
