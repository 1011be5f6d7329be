# Copyright (c) mmaims contributors. All rights reserved.
import numpy as np
import pytest

from mmaims.evaluation.functional import (IOU_THRS, FederatedGroundTruth,
                                          accumulate_precision,
                                          evaluate_federated, evaluate_image,
                                          group_predictions, match_detections,
                                          summarize_precision)
from mmaims.structures import LEVELS, encode_mask


@pytest.mark.parametrize('seed', [0, 1, 2, 3, 4])
def test_ap_equals_cocoeval_use_cats_0(seed, make_dataset, cocoeval_reference):
    gt_dict, preds = make_dataset(seed, num_images=14)
    gt = FederatedGroundTruth(gt_dict, 'random')
    metrics = evaluate_federated(gt, group_predictions(preds))
    # The generated sets hold what the acceptance criteria name.
    image3 = [m for m in preds['masks'] if m['image_id'] == 3]
    assert len(image3) == 3 * 130
    assert any(a['iscrowd'] for a in gt_dict['annotations'])
    pred_images = {m['image_id'] for m in preds['masks']}
    gt_images = {a['image_id'] for a in gt_dict['annotations']}
    all_images = {im['id'] for im in gt_dict['images']}
    assert all_images - pred_images and all_images - gt_images
    assert all_images - pred_images - gt_images
    checked = 0
    for level in LEVELS:
        if not any(level in im['levels'] for im in gt_dict['images']):
            assert metrics[f'{level}_mAP'] == -1
            continue
        ref = cocoeval_reference(gt_dict, preds, level)
        ours = (metrics[f'{level}_mAP'], metrics[f'{level}_mAP_50'],
                metrics[f'{level}_mAP_75'])
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)
        checked += 1
    assert checked >= 2


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_recall_equals_cocoeval(seed, make_dataset, cocoeval_stats):
    """``{level}_AR@100`` is COCOeval's AR@100 of the level; ``AR@1000``
    its AR at 1000 masks of all levels pooled, against the GT of the levels
    each image lists."""
    gt_dict, preds = make_dataset(seed, num_images=14)
    metrics = evaluate_federated(
        FederatedGroundTruth(gt_dict), group_predictions(preds))
    for level in LEVELS:
        if any(level in im['levels'] for im in gt_dict['images']):
            ref = cocoeval_stats(gt_dict, preds, level)[8]
            assert metrics[f'{level}_AR@100'] == pytest.approx(ref, abs=1e-9)
    # image 3 has 390 masks: more than 100, fewer than 1000
    ref = cocoeval_stats(gt_dict, preds, None, max_dets=1000)[8]
    assert metrics['AR@1000'] == pytest.approx(ref, abs=1e-9)


def test_ap_equals_cocoeval_on_tie_heavy_tiny_images(make_dataset,
                                                     cocoeval_reference):
    # 4x5 images: most IoUs collide, so GT and score tie-breaking decide.
    for seed in range(10, 16):
        gt_dict, preds = make_dataset(
            seed,
            num_images=10,
            size=(4, 5),
            levels_prob=1.0,
            many_preds_image=False)
        gt = FederatedGroundTruth(gt_dict)
        metrics = evaluate_federated(gt, group_predictions(preds))
        for level in LEVELS:
            ref = cocoeval_reference(gt_dict, preds, level)
            ours = (metrics[f'{level}_mAP'], metrics[f'{level}_mAP_50'],
                    metrics[f'{level}_mAP_75'])
            np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)


def _rect(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), dtype=bool)
    m[y0:y1, x0:x1] = True
    return encode_mask(m)


def test_greedy_matching_prefers_later_gt_on_equal_iou():
    # d covers A and B equally (IoU 0.5 each); COCOeval keeps the later GT.
    ious = np.array([[0.5, 0.5], [0.0, 0.9]])
    matched, ignore = match_detections(ious, np.array([False, False]))
    assert matched[0].tolist() == [True, False]  # t=0.5: d0 -> B, d1 FP
    assert not matched[1:, 0].any()
    # t in 0.55..0.9: B is free again for d1; 0.95 is above its IoU.
    assert matched[1:9, 1].all() and not matched[9, 1]
    assert not ignore.any()


def test_crowd_is_a_fallback_and_can_be_matched_twice():
    # GT 0 non-crowd, GT 1 crowd; d0 prefers the crowd by IoU but a
    # non-crowd match wins; d1, d2 fall back to the crowd (ignored).
    ious = np.array([[0.6, 0.9], [0.6, 0.9], [0.1, 0.8]])
    matched, ignore = match_detections(ious, np.array([False, True]))
    t05 = 0
    assert matched[t05].tolist() == [True, True, True]
    assert ignore[t05].tolist() == [False, True, True]


def test_evaluate_image_empty_cases():
    empty = evaluate_image([], [], [], [])
    assert empty is None
    h, w = 4, 4
    only_gt = evaluate_image([], [], [_rect(h, w, 0, 2, 0, 2)], [False])
    assert only_gt['num_gt'] == 1 and only_gt['tp'].shape == (10, 0)
    only_dt = evaluate_image([_rect(h, w, 0, 2, 0, 2)], [0.3], [], [])
    assert only_dt['num_gt'] == 0 and only_dt['fp'].all()
    # Only crowd GT: nothing to recall, COCOeval reports -1.
    assert accumulate_precision([only_dt]) is None
    assert summarize_precision(None)['mAP'] == -1
    # A GT with no detection at all: AP 0 (not -1).
    prec = accumulate_precision([only_gt, None])
    assert prec.shape == (len(IOU_THRS), 101) and not prec.any()


def test_max_dets_keeps_highest_scores():
    h, w = 6, 6
    gt = [_rect(h, w, 0, 3, 0, 3)]
    dets = [_rect(h, w, 3, 6, 3, 6)] * 3 + [_rect(h, w, 0, 3, 0, 3)]
    scores = [0.9, 0.8, 0.7, 0.1]
    kept = evaluate_image(dets, scores, gt, [False], max_dets=3)
    assert kept['tp'].sum() == 0 and kept['scores'].tolist() == [.9, .8, .7]
    all_dets = evaluate_image(dets, scores, gt, [False], max_dets=100)
    assert all_dets['tp'][:, 3].all()


def test_gt_tie_decides_ap_as_in_cocoeval(cocoeval_reference):
    """d1 has IoU 2/3 with both A and B; COCOeval gives it the later GT (B),
    so d2 (= A) is a TP too. Taking A first would make d2 a FP."""
    h, w = 1, 4
    a, b = _rect(h, w, 0, 1, 0, 2), _rect(h, w, 0, 1, 1, 3)
    gt = dict(
        images=[dict(id=1, height=h, width=w, levels=['part'])],
        annotations=[
            dict(
                id=i + 1,
                image_id=1,
                level='part',
                segmentation=s,
                iscrowd=0,
                area=2,
                bbox=[0, 0, 1, 1]) for i, s in enumerate([a, b])
        ])
    preds = dict(masks=[
        dict(
            id=1,
            image_id=1,
            level='part',
            score=.9,
            segmentation=_rect(h, w, 0, 1, 0, 3)),
        dict(id=2, image_id=1, level='part', score=.8, segmentation=a),
    ])
    metrics = evaluate_federated(
        FederatedGroundTruth(gt), group_predictions(preds))
    ref = cocoeval_reference(gt, preds, 'part')
    assert ref[1] == pytest.approx(1.0)
    assert (metrics['part_mAP'], metrics['part_mAP_50'],
            metrics['part_mAP_75']) == pytest.approx(
                ref, abs=1e-9)
