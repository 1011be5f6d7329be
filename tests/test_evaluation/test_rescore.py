# Copyright (c) mmaims contributors. All rights reserved.
"""Re-scoring by mask scores (CropFormer's released protocol): in the data
sample, the prediction file, FederatedMetric and the offline evaluator."""
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmaims.evaluation import FederatedMetric
from mmaims.evaluation.functional import (FederatedGroundTruth,
                                          evaluate_federated,
                                          group_predictions,
                                          rescore_predictions)
from mmaims.structures import (encode_mask, samples_to_predictions,
                               validate_predictions)

H, W = 8, 10


def _cols(x0, x1):
    m = np.zeros((H, W), dtype=bool)
    m[:, x0:x1] = True
    return m


def _gt():
    return dict(
        images=[dict(id=1, height=H, width=W, levels=['entity'])],
        annotations=[
            dict(
                id=1,
                image_id=1,
                level='entity',
                segmentation=encode_mask(_cols(0, 5)),
                iscrowd=0)
        ])


def _sample(with_mask_scores=True):
    """The entity (cols 0-4) is predicted with entityness 0.8 and a sure
    mask (0.9); a wrong mask (cols 5-9) with entityness 0.9 and an unsure
    mask (0.1). Ranked by entityness the wrong one comes first (AP 0.5);
    re-scored (0.72 against 0.09) the right one does (AP 1)."""
    inst = InstanceData(
        masks=torch.from_numpy(np.stack([_cols(5, 10), _cols(0, 5)])),
        scores=torch.tensor([0.9, 0.8]),
        labels=torch.zeros(2, dtype=torch.long))
    if with_mask_scores:
        inst.mask_scores = torch.tensor([0.1, 0.9])
    sample = DetDataSample(metainfo=dict(img_id=1, ori_shape=(H, W)))
    sample.pred_instances = inst
    return sample


def _metric(tmp_path, dump_json, **kwargs):
    ann_file = dump_json(tmp_path / 'gt.json', _gt())
    metric = FederatedMetric(str(ann_file), **kwargs)
    metric.process({}, [_sample()])
    return metric.evaluate(1)


@pytest.mark.parametrize('rescore, expected', [(False, 0.5), (True, 1.0)])
def test_metric_rescores_by_mask_scores(tmp_path, dump_json, rescore,
                                        expected):
    metrics = _metric(tmp_path, dump_json, rescore=rescore)
    for key in ('entity_mAP', 'entity_mAP_nonoverlap',
                'entity_mAP_nonoverlap_50'):
        assert metrics[f'aims/{key}'] == pytest.approx(expected, abs=1e-12)


def test_file_round_trip_and_offline_rescoring(tmp_path, dump_json,
                                               load_tool):
    predictions = samples_to_predictions([_sample()])
    assert [m['mask_score'] for m in predictions['masks']
            ] == pytest.approx([0.1, 0.9])
    gt = FederatedGroundTruth(_gt())
    validate_predictions(predictions, gt)
    grouped = group_predictions(predictions)
    plain = evaluate_federated(gt, grouped)
    rescored = evaluate_federated(gt, rescore_predictions(grouped))
    assert plain['entity_mAP'] == pytest.approx(0.5)
    assert rescored['entity_mAP'] == pytest.approx(1.0)
    # the same through the offline tool
    tool = load_tool('analysis_tools/eval_predictions.py')
    gt_file = dump_json(tmp_path / 'gt.json', _gt())
    pred_file = dump_json(tmp_path / 'pred.json', predictions)
    for rescore, expected in ((False, 0.5), (True, 1.0)):
        metrics = tool.evaluate_files(
            str(gt_file), str(pred_file), False, False, rescore)
        assert metrics['aims/entity_mAP'] == pytest.approx(expected)
    bad = dict(predictions)
    bad['masks'] = [dict(m, mask_score=1.5) for m in predictions['masks']]
    with pytest.raises(ValueError, match='mask_score must be'):
        validate_predictions(bad, gt)


def test_rescoring_a_model_without_mask_scores_is_an_error(
        tmp_path, dump_json):
    ann_file = dump_json(tmp_path / 'gt.json', _gt())
    metric = FederatedMetric(str(ann_file), rescore=True)
    metric.process({}, [_sample(with_mask_scores=False)])
    with pytest.raises(ValueError, match='image id 1: re-scoring needs'):
        metric.evaluate(1)
    # without re-scoring the mask scores are not needed
    metric = FederatedMetric(str(ann_file))
    metric.process({}, [_sample(with_mask_scores=False)])
    assert metric.evaluate(1)['aims/entity_mAP'] == pytest.approx(0.5)


def test_rescoring_metric_leaves_the_nonoverlap_masks_to_the_evaluation(
        tmp_path, dump_json, monkeypatch):
    """Re-scored, the precomputed non-overlapping masks would be thrown
    away: the metric does not compute them per sample."""
    from mmaims.evaluation.metrics import federated_metric

    def fail(*args, **kwargs):
        raise AssertionError('non-overlapping masks computed per sample')

    monkeypatch.setattr(federated_metric, 'make_disjoint_masks', fail)
    monkeypatch.setattr(federated_metric, 'make_disjoint_rles', fail)
    ann_file = dump_json(tmp_path / 'gt.json', _gt())
    metric = FederatedMetric(str(ann_file), rescore=True)
    metric.process({}, [_sample()])
    assert 'nonoverlap' not in metric.results[0]['predictions']
    assert metric.evaluate(1)['aims/entity_mAP_nonoverlap'] == \
        pytest.approx(1.0)
    # without re-scoring they are precomputed, once per sample
    metric = FederatedMetric(str(ann_file))
    with pytest.raises(AssertionError, match='computed per sample'):
        metric.process({}, [_sample()])
