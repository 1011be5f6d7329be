# Copyright (c) mmaims contributors. All rights reserved.
import copy
import json

import numpy as np
import pytest
from mmengine.evaluator import Evaluator

from mmaims.evaluation import DumpAIMSPredictions, FederatedMetric
from mmaims.evaluation.functional import (FederatedGroundTruth,
                                          evaluate_federated,
                                          group_predictions)
from mmaims.structures import decode_rle, load_predictions


def test_dump_round_trips_through_load_predictions(tmp_path, make_dataset,
                                                   make_samples, dump_json):
    gt_dict, preds = make_dataset(11, num_images=8)
    ann_file = dump_json(tmp_path / 'gt.json', gt_dict)
    out = str(tmp_path / 'pred.json')
    samples = make_samples(gt_dict, preds)
    evaluator = Evaluator(
        [FederatedMetric(ann_file),
         DumpAIMSPredictions(out_file_path=out)])
    evaluator.process(data_samples=copy.deepcopy(samples), data_batch={})
    metrics = evaluator.evaluate(len(samples))

    with open(out) as f:
        raw = json.load(f)
    ids = [m['id'] for m in raw['masks']]
    assert ids == list(range(1, len(ids) + 1))
    loaded = load_predictions(out, gt_dict)
    assert len(loaded['masks']) == len(preds['masks'])
    assert len(loaded['links']) == len(preds['links'])
    # Same masks, levels, images and scores as the input predictions, in
    # sample, level, row order.
    order = {'part': 0, 'entity': 1, 'relation': 2}
    expected = sorted(
        preds['masks'], key=lambda m: (m['image_id'], order[m['level']]))
    for got, want in zip(loaded['masks'], expected):
        assert (got['image_id'], got['level']) == (want['image_id'],
                                                   want['level'])
        assert got['score'] == pytest.approx(want['score'], abs=1e-6)
        np.testing.assert_array_equal(
            decode_rle(got['segmentation']), decode_rle(want['segmentation']))
    # Links point at the same masks (compared by content).
    new_of_old = {w['id']: g['id'] for g, w in zip(loaded['masks'], expected)}
    got_links = {(x['image_id'], x['type'], x['parent_id'], x['child_id'],
                  round(x['score'], 5))
                 for x in loaded['links']}
    want_links = {(x['image_id'], x['type'], new_of_old[x['parent_id']],
                   new_of_old[x['child_id']], round(x['score'], 5))
                  for x in preds['links']}
    assert got_links == want_links
    # Scoring the dumped file offline gives the metric's values.
    offline = evaluate_federated(
        FederatedGroundTruth(gt_dict), group_predictions(loaded))
    for key, value in offline.items():
        assert metrics[f'aims/{key}'] == pytest.approx(value, abs=1e-12)


def test_dump_requires_json(tmp_path):
    with pytest.raises(ValueError, match='must end with .json'):
        DumpAIMSPredictions(out_file_path=str(tmp_path / 'x.pkl'))


def test_tools_test_out_json_uses_dump_aims_predictions(tmp_path):
    import importlib.util
    import os.path as osp
    repo = osp.dirname(
        osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    spec = importlib.util.spec_from_file_location(
        'aims_test_tool', osp.join(repo, 'tools', 'test.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    metric = tool.build_dump_metric(str(tmp_path / 'pred.json'))
    assert isinstance(metric, DumpAIMSPredictions)
    assert metric.out_file_path == str(tmp_path / 'pred.json')
