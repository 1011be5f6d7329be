# Copyright (c) mmaims contributors. All rights reserved.
"""tools/analysis_tools/eval_predictions.py: one real CLI run, and every
error path through its ``main``."""
import copy
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from mmaims.evaluation.functional import (FederatedGroundTruth,
                                          evaluate_federated,
                                          group_predictions, metric_keys)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'eval_predictions.py')


def _tool():
    spec = importlib.util.spec_from_file_location('eval_predictions', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def files(tmp_path, make_dataset, dump_json):
    gt, preds = make_dataset(21, num_images=8, sources=('coco', 'psg'))
    return tmp_path, gt, preds, dump_json(tmp_path / 'gt.json', gt)


def test_cli_writes_metrics(files):
    tmp_path, gt, preds, gt_file = files
    pred_file = str(tmp_path / 'pred.json')
    with open(pred_file, 'w') as f:
        json.dump(preds, f)
    out_file = str(tmp_path / 'metrics.json')
    proc = subprocess.run([
        sys.executable, TOOL, gt_file, pred_file, '--out', out_file,
        '--no-progress'
    ],
                          capture_output=True,
                          text=True,
                          cwd=REPO,
                          env=dict(
                              os.environ,
                              PYTHONPATH=os.pathsep.join(
                                  [REPO,
                                   os.environ.get('PYTHONPATH', '')])))
    assert proc.returncode == 0, proc.stderr
    assert 'mask AP (all images)' in proc.stdout
    assert 'mask AP (source psg)' in proc.stdout
    with open(out_file) as f:
        metrics = json.load(f)
    keys = metric_keys(drill_down=True)
    assert list(metrics) == [f'aims/{k}' for k in keys] + [
        f'aims/{s}/{k}' for s in ('coco', 'psg') for k in keys
    ]
    # no "prompts" in the file: the one-step reference is scored, the
    # drill-down outputs are not (-1)
    expected = evaluate_federated(
        FederatedGroundTruth(gt), group_predictions(preds), drill_down=True)
    assert expected['restricted_part_mAP'] >= 0
    assert expected['drill_part_mAP'] == -1
    for key, value in expected.items():
        assert metrics[f'aims/{key}'] == pytest.approx(value, abs=1e-12)


@pytest.mark.parametrize('edit, message', [
    (lambda p: p['masks'][0].update(image_id=4242), 'unknown image id 4242'),
    (lambda p: p['masks'][0].update(level='scene'), 'unknown level "scene"'),
    (lambda p: p['links'][0].update(parent_id=999999),
     'parent_id 999999 is an unknown mask id'),
    (lambda p: p['links'][0].update(type='part-relation'),
     'wrong link type "part-relation"'),
    (lambda p: p['links'][0].update(parent_id=p['links'][0]['child_id']),
     'wrong link type: a "'),
    # "9" is not image 9, "62" is not mask 62: string ids are errors
    (lambda p: p['masks'][0].update(image_id=str(p['masks'][0]['image_id'])),
     "masks[0]: image_id must be an integer, got '"),
    (lambda p: p['masks'][0].update(id=str(p['masks'][0]['id'])),
     "masks[0]: id must be an integer, got '"),
    (lambda p: p['links'][0].update(parent_id=str(p['links'][0]['parent_id'])),
     "links[0]: parent_id must be an integer, got '"),
])
def test_cli_errors_name_the_problem(files, edit, message, capsys):
    tmp_path, _, preds, gt_file = files
    preds = copy.deepcopy(preds)
    assert preds['links']
    edit(preds)
    pred_file = str(tmp_path / 'bad_pred.json')
    with open(pred_file, 'w') as f:
        json.dump(preds, f)
    assert _tool().main([gt_file, pred_file, '--no-progress']) == 1
    err = capsys.readouterr().err
    assert err.startswith(f'error: {pred_file}:')
    assert message in err


def test_cli_missing_file_and_bad_gt(files, capsys, dump_json):
    tmp_path, gt, preds, gt_file = files
    pred_file = dump_json(tmp_path / 'pred.json', preds)
    assert _tool().main([gt_file, str(tmp_path / 'nope.json')]) == 1
    assert 'nope.json: no such file' in capsys.readouterr().err
    bad_gt = copy.deepcopy(gt)
    bad_gt['images'][0]['levels'] = ['entity', 'stuff']
    bad_file = dump_json(tmp_path / 'bad_gt.json', bad_gt)
    assert _tool().main([bad_file, pred_file]) == 1
    assert 'image id 1: unknown level "stuff"' in capsys.readouterr().err


def test_list_prompts_gives_the_prompts_that_are_scored(files, capsys):
    """The listed prompts, answered with their own masks, are the prompts
    the drill-down keys count."""
    tmp_path, gt, preds, gt_file = files
    tool = _tool()
    out = str(tmp_path / 'prompts.json')
    assert tool.main([gt_file, '--list-prompts', out]) == 0
    with open(out) as f:
        prompts = json.load(f)['prompts']
    assert prompts and len({p['id'] for p in prompts}) == len(prompts)
    answered = copy.deepcopy(preds)
    answered['prompts'] = prompts
    next_id = max(m['id'] for m in preds['masks']) + 1
    for i, prompt in enumerate(prompts):
        answered['masks'].append(
            dict(
                id=next_id + i,
                image_id=prompt['image_id'],
                level='part',
                segmentation=prompt['segmentation'],
                score=1.0,
                prompt_id=prompt['id']))
    pred_file = str(tmp_path / 'answered.json')
    with open(pred_file, 'w') as f:
        json.dump(answered, f)
    metrics = tool.evaluate_files(gt_file, pred_file, show_progress=False)
    assert metrics['aims/drill_part_prompts'] + metrics[
        'aims/drill_entity_prompts'] == len(prompts)
    assert metrics['aims/drill_part_mAP'] >= 0
    # the one-step keys ignore the drill-down outputs
    one_step = evaluate_federated(
        FederatedGroundTruth(gt), group_predictions(preds))
    for key, value in one_step.items():
        assert metrics[f'aims/{key}'] == pytest.approx(value, abs=1e-12)


def test_tool_needs_a_prediction_file(files, capsys):
    _, _, _, gt_file = files
    assert _tool().main([gt_file]) == 1
    assert 'give a prediction file' in capsys.readouterr().err
