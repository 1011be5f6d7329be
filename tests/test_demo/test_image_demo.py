# Copyright (c) mmaims contributors. All rights reserved.
import importlib.util
import json
import os.path as osp
import shutil
import subprocess
import sys

import cv2
import pytest

from mmaims.structures import LEVELS, decode_rle, validate_predictions

TESTS = osp.dirname(osp.dirname(osp.abspath(__file__)))
REPO = osp.dirname(TESTS)
DEMO = osp.join(REPO, 'demo', 'image_demo.py')
TINY_CONFIG = osp.join(TESTS, 'data', 'configs', 'aims_tiny.py')
IMAGES = osp.join(TESTS, 'data', 'inference', 'images')
PROMPTS = osp.join(TESTS, 'data', 'inference', 'prompts')


@pytest.fixture(scope='module')
def demo():
    spec = importlib.util.spec_from_file_location('image_demo', DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_json(path):
    with open(path) as f:
        return json.load(f)


def test_one_step_writes_every_output(demo, tiny_checkpoint, tmp_path, capsys):
    images = tmp_path / 'images'
    images.mkdir()
    shutil.copy(osp.join(IMAGES, 'good.png'), images / 'scene.png')
    shutil.copy(osp.join(IMAGES, 'broken.png'), images / 'broken.png')
    out = tmp_path / 'out'
    code = demo.main([
        str(images), TINY_CONFIG, '--weights', tiny_checkpoint, '--out-dir',
        str(out), '--device', 'cpu', '--pred-score-thr', '0'
    ])
    # the bad file is reported and makes the exit status 1; the good image
    # is still written
    assert code == 1
    err = capsys.readouterr().err
    assert '1 image(s) failed' in err and 'broken.png: not a readable' in err

    pred = read_json(out / 'preds' / 'scene.json')
    validate_predictions(
        pred, gt=dict(images=[dict(id=1, height=48, width=64)]))
    assert {m['level'] for m in pred['masks']} == set(LEVELS)
    assert decode_rle(pred['masks'][0]['segmentation']).shape == (48, 64)
    for level in LEVELS:
        vis = cv2.imread(str(out / 'vis' / f'scene_{level}.png'))
        assert vis is not None and vis.shape[2] == 3
    assert cv2.imread(str(out / 'vis' / 'scene.png')).shape[1] == 3 * 384
    tree = read_json(out / 'hierarchy' / 'scene.json')
    assert set(tree) >= {'relations', 'entities', 'parts', 'num_masks'}
    # score threshold 0: every mask is in the tree
    assert sum(tree['num_masks'].values()) == len(pred['masks'])
    graph = cv2.imread(str(out / 'hierarchy' / 'scene.png'))
    assert graph is not None and graph.shape[0] > 3 * 96
    assert not (out / 'preds' / 'broken.json').exists()


def test_prompt_and_levels(demo, tiny_checkpoint, tmp_path):
    out = tmp_path / 'out'
    code = demo.main([
        osp.join(IMAGES, 'good.png'), TINY_CONFIG, '--weights',
        tiny_checkpoint, '--out-dir',
        str(out), '--prompt',
        osp.join(PROMPTS,
                 'box.png'), '--prompt-decoder', 'part', '--no-save-vis'
    ])
    assert code == 0
    pred = read_json(out / 'preds' / 'good.json')
    assert pred['prompt'] == dict(
        decoder='part', prompt_type='one_entity', level='part')
    assert {m['level'] for m in pred['masks']} == {'part'}
    assert read_json(out / 'hierarchy' / 'good.json')['prompt'] == \
        pred['prompt']
    assert not (out / 'vis').exists()

    code = demo.main([
        osp.join(IMAGES, 'gray.png'), TINY_CONFIG, '--weights',
        tiny_checkpoint, '--out-dir',
        str(out), '--levels', 'entity', 'relation', '--no-save-vis'
    ])
    assert code == 0
    pred = read_json(out / 'preds' / 'gray.json')
    assert {m['level'] for m in pred['masks']} == {'entity', 'relation'}
    assert 'grayscale' in pred['notes'][0]


@pytest.mark.parametrize('args, message', [
    (['--levels', 'car'], "invalid choice: 'car'"),
    (['--prompt', osp.join(PROMPTS, 'empty.png')], 'the prompt is empty'),
    (['--prompt-decoder', 'part'], '--prompt-decoder / --prompt-type need'),
    (['--prompt', osp.join(PROMPTS, 'box.png'), '--levels', 'part'
      ], '--levels applies to one-step inference'),
])
def test_bad_arguments(demo, tiny_checkpoint, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        demo.main([
            osp.join(IMAGES, 'good.png'), TINY_CONFIG, '--weights',
            tiny_checkpoint, '--out-dir',
            str(tmp_path)
        ] + args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_config_name(demo, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        demo.main([osp.join(IMAGES, 'good.png'), 'aims_nonexistent'])
    assert exit_info.value.code == 2
    assert 'known names' in capsys.readouterr().err


def test_help_runs_as_a_script():
    out = subprocess.run([sys.executable, DEMO, '--help'],
                         capture_output=True,
                         text=True,
                         check=True).stdout
    for option in ('--weights', '--prompt', '--prompt-decoder', '--levels',
                   '--out-dir'):
        assert option in out
