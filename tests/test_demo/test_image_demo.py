# Copyright (c) mmaims contributors. All rights reserved.
import importlib.util
import json
import os.path as osp
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mmaims.structures import (LEVELS, decode_rle, id_map_to_masks,
                               load_id_map, validate_predictions)
from tests.conftest import ROUGH_FLAG_OPTION, box_of

TESTS = osp.dirname(osp.dirname(osp.abspath(__file__)))
REPO = osp.dirname(TESTS)
DEMO = osp.join(REPO, 'demo', 'image_demo.py')
TINY_CONFIG = osp.join(TESTS, 'data', 'configs', 'aims_tiny.py')
CROPFORMER_CONFIG = osp.join(REPO, 'configs', 'cropformer',
                             'cropformer_r18_synthetic.py')
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
    # the id maps of the non-overlapping levels name masks of the JSON
    assert sorted(p.name for p in (out / 'idmap').iterdir()) == [
        'scene_entity.png', 'scene_part.png'
    ]
    by_id = {m['id']: m for m in pred['masks']}
    for level in ('part', 'entity'):
        ids = id_map_to_masks(
            load_id_map(str(out / 'idmap' / f'scene_{level}.png')))
        assert ids and all(by_id[i]['level'] == level for i in ids)


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

    # the id map of the prompt's output level
    assert [p.name for p in (out / 'idmap').iterdir()] == ['good_part.png']

    code = demo.main([
        osp.join(IMAGES, 'gray.png'), TINY_CONFIG, '--weights',
        tiny_checkpoint, '--out-dir',
        str(out), '--levels', 'entity', 'relation', '--no-save-vis',
        '--no-save-idmap'
    ])
    assert code == 0
    pred = read_json(out / 'preds' / 'gray.json')
    assert {m['level'] for m in pred['masks']} == {'entity', 'relation'}
    assert 'grayscale' in pred['notes'][0]
    assert not (out / 'idmap' / 'gray_entity.png').exists()


def test_snap_a_box_prompt(demo, tiny_checkpoint, tmp_path):
    """``--cfg-options`` reaches the model: with ``prompt_snap`` a box
    drills into the one-step entity it matches (not the box itself); a bad
    value is a bad argument. ``--prompt-snap`` / ``--no-prompt-snap`` set
    it for the run, over the config's."""
    image = osp.join(IMAGES, 'good.png')
    common = [
        image, TINY_CONFIG, '--weights', tiny_checkpoint, '--no-save-vis',
        '--no-save-idmap'
    ]
    assert demo.main(common + ['--out-dir', str(tmp_path / 'one')]) == 0
    entity = [
        m for m in read_json(tmp_path / 'one' / 'preds' / 'good.json')
        ['masks'] if m['level'] == 'entity'
    ][0]
    box = [str(v) for v in box_of(entity['segmentation'])]
    preds = {}
    for snap in ('False', 'True'):
        out = tmp_path / snap
        assert demo.main(common + [
            '--out-dir',
            str(out), '--prompt-box', *box, '--cfg-options',
            f'model.test_cfg.prompt_snap={snap}'
        ]) == 0
        preds[snap] = read_json(out / 'preds' / 'good.json')['masks']
    assert preds['True'] != preds['False']
    for flag, config, expected in (('--prompt-snap', 'False', 'True'),
                                   ('--no-prompt-snap', 'True', 'False')):
        out = tmp_path / flag
        assert demo.main(common + [
            '--out-dir',
            str(out), '--prompt-box', *box, flag, '--cfg-options',
            f'model.test_cfg.prompt_snap={config}'
        ]) == 0
        assert read_json(out / 'preds' /
                         'good.json')['masks'] == preds[expected], flag
    with pytest.raises(SystemExit) as exit_info:
        demo.main(common + [
            '--out-dir',
            str(tmp_path), '--cfg-options', 'model.test_cfg.prompt_snap=2'
        ])
    assert exit_info.value.code == 2


def test_prompt_clip_cuts_as_the_inferencer(demo, tiny_checkpoint, tmp_path):
    """``--prompt-clip`` reaches the inferencer (``prompt_clip``): a box
    with ``auto`` is cut at the box whatever the config says (here
    ``margin``), a mask marked ``--prompt-rough`` as the config says."""
    from mmaims.apis import AIMSInferencer
    image = osp.join(IMAGES, 'good.png')
    box = (6, 4, 40, 30)
    common = [
        image, TINY_CONFIG, '--weights', tiny_checkpoint, '--no-save-vis',
        '--no-save-idmap', '--cfg-options', 'model.test_cfg.prompt_clip=margin'
    ]
    rough = osp.join(PROMPTS, 'box.png')
    runs = {
        'box': ['--prompt-box', *map(str, box)],
        'mask': ['--prompt', rough, '--prompt-rough'],
    }
    preds = {}
    for name, extra in runs.items():
        out = str(tmp_path / name)
        extra += ['--prompt-clip', 'auto', '--out-dir', out]
        assert demo.main(common + extra) == 0
        preds[name] = read_json(osp.join(out, 'preds', 'good.json'))['masks']
    cfg = AIMSInferencer.resolve_config(TINY_CONFIG)
    cfg.merge_from_dict({'model.test_cfg.prompt_clip': 'margin'})
    inferencer = AIMSInferencer(
        cfg, tiny_checkpoint, device='cpu', show_progress=False)

    def masks(prompt, **kwargs):
        [pred] = inferencer(image, prompt=prompt, **kwargs)['predictions']
        return pred['masks']

    assert preds['box'] == masks(box, prompt_clip='hard') != masks(box)
    as_config = masks(rough, prompt_rough=True)
    assert preds['mask'] == as_config
    assert as_config != masks(rough, prompt_rough=True, prompt_clip='hard')
    assert preds['mask'] == masks(rough, prompt_rough=True, prompt_clip='auto')
    with pytest.raises(ValueError, match='prompt_clip must be one of'):
        inferencer(image, prompt=box, prompt_clip='soft')


def test_prompt_rough_reaches_a_model_with_the_flag(demo, flag_checkpoint,
                                                    tmp_path):
    """``--prompt-rough`` tells a model trained with the rough-prompt
    flag that the box was drawn: the masks of the inferencer's
    ``prompt_rough=True``, not those of an exact prompt."""
    from mmaims.apis import AIMSInferencer
    image = osp.join(IMAGES, 'good.png')
    box = (10, 6, 42, 30)
    args = [
        image, TINY_CONFIG, '--weights', flag_checkpoint, '--no-save-vis',
        '--no-save-idmap', '--prompt-box', *map(str, box), '--cfg-options',
        *(f'{k}={v}' for k, v in ROUGH_FLAG_OPTION.items())
    ]
    preds = {}
    for name, extra in (('exact', []), ('rough', ['--prompt-rough'])):
        assert demo.main(args + ['--out-dir', str(tmp_path / name)] +
                         extra) == 0
        preds[name] = read_json(tmp_path / name / 'preds' /
                                'good.json')['masks']
    cfg = AIMSInferencer.resolve_config(TINY_CONFIG)
    cfg.merge_from_dict(ROUGH_FLAG_OPTION)
    inferencer = AIMSInferencer(
        cfg, flag_checkpoint, device='cpu', show_progress=False)
    want = inferencer(image, prompt=box, prompt_rough=True)['predictions']
    assert preds['rough'] == want[0]['masks'] != preds['exact']


def test_cropformer(demo, cropformer_checkpoint, tmp_path, capsys):
    image = tmp_path / 'odd.png'
    pixels = np.random.default_rng(0).random((37, 53, 3)) * 255
    cv2.imwrite(str(image), pixels.astype(np.uint8))
    out = tmp_path / 'out'
    args = [
        str(image), CROPFORMER_CONFIG, '--weights', cropformer_checkpoint,
        '--out-dir',
        str(out), '--device', 'cpu', '--no-save-vis'
    ]
    assert demo.main(args + ['--pred-score-thr', '0']) == 0
    pred = read_json(out / 'preds' / 'odd.json')
    validate_predictions(
        pred, gt=dict(images=[dict(id=0, height=37, width=53)]))
    assert pred['masks'] and {m['level'] for m in pred['masks']} == {'entity'}
    id_map = load_id_map(str(out / 'idmap' / 'odd_entity.png'))
    assert id_map.shape == (37, 53)
    # CropFormer's masks are disjoint: the map holds every one, whole
    masks = id_map_to_masks(id_map)
    assert list(masks) == [m['id'] for m in pred['masks']]
    for mask in pred['masks']:
        assert (masks[mask['id']] == decode_rle(mask['segmentation'])).all()
    # prompts are AIMS-only: a bad argument
    with pytest.raises(SystemExit) as exit_info:
        demo.main(args + ['--prompt', osp.join(PROMPTS, 'box.png')])
    assert exit_info.value.code == 2
    assert 'CropFormer models take no prompt' in capsys.readouterr().err


@pytest.mark.parametrize('args, message', [
    (['--levels', 'car'], "invalid choice: 'car'"),
    (['--prompt', osp.join(PROMPTS, 'empty.png')], 'the prompt is empty'),
    (['--prompt-decoder', 'part'], '--prompt-decoder / --prompt-type / '
     '--prompt-rough / --prompt-clip / --prompt-snap need'),
    (['--prompt-rough'], '--prompt-snap need --prompt'),
    (['--prompt-clip', 'auto'], '--prompt-snap need --prompt'),
    (['--no-prompt-snap'], '--prompt-snap need --prompt'),
    (['--prompt-box', '1', '2', '9', '9', '--prompt-clip', 'soft'],
     "invalid choice: 'soft'"),
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
                   '--out-dir', '--no-save-idmap'):
        assert option in out
