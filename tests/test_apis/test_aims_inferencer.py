# Copyright (c) mmaims contributors. All rights reserved.
import os.path as osp
import shutil

import cv2
import mmengine
import numpy as np
import pytest
import torch

from mmaims.apis import AIMSImageSession, AIMSInferencer
from mmaims.evaluation.functional import make_disjoint_rles
from mmaims.structures import (LEVELS, decode_rle, id_map_to_masks,
                               load_id_map, validate_predictions)
from tests.conftest import ROUGH_FLAG_OPTION, box_of

TESTS = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CONFIG = osp.join(TESTS, 'data', 'configs', 'aims_tiny.py')
CROPFORMER_CONFIG = osp.join(
    osp.dirname(TESTS), 'configs', 'cropformer', 'cropformer_r18_synthetic.py')
INFER_DATA = osp.join(TESTS, 'data', 'inference')
IMAGES = osp.join(INFER_DATA, 'images')
PROMPTS = osp.join(INFER_DATA, 'prompts')
GOOD = osp.join(IMAGES, 'good.png')
LINK_LEVELS = {
    'entity-part': ('entity', 'part'),
    'relation-entity': ('relation', 'entity')
}


def check_prediction(pred, height, width, image_id=None):
    """A valid section-2 dict whose masks decode to the image size and
    whose links join existing masks of the right levels."""
    gt = dict(images=[
        dict(
            id=pred['masks'][0]['image_id'] if image_id is None else image_id,
            height=height,
            width=width)
    ])
    validate_predictions(pred, gt=gt, file_name='inferencer output')
    assert (pred['height'], pred['width']) == (height, width)
    by_id = {m['id']: m for m in pred['masks']}
    assert len(by_id) == len(pred['masks'])
    for mask in pred['masks']:
        assert mask['level'] in LEVELS
        assert 0 <= mask['score'] <= 1
        decoded = decode_rle(mask['segmentation'])
        assert decoded.shape == (height, width) and decoded.any()
    for link in pred['links']:
        parent_level, child_level = LINK_LEVELS[link['type']]
        assert by_id[link['parent_id']]['level'] == parent_level
        assert by_id[link['child_id']]['level'] == child_level
        assert link['image_id'] == by_id[link['parent_id']]['image_id']


def levels_of(pred):
    return {m['level'] for m in pred['masks']}


def test_single_image_all_levels(inferencer):
    result = inferencer(GOOD)
    assert result['failures'] == [] and result['skipped'] == []
    [pred] = result['predictions']
    check_prediction(pred, 48, 64, image_id=0)
    assert pred['image'] == GOOD and pred['notes'] == []
    # the tiny random model keeps masks at every level and links of both
    # types, so the checks above are not vacuous
    assert levels_of(pred) == set(LEVELS)
    assert {link['type'] for link in pred['links']} == set(LINK_LEVELS)
    tree = result['hierarchy'][0]
    assert tree['image_id'] == 0 and tree['score_thr'] == 0.3


def test_checkpoint_is_loaded(inferencer, tiny_checkpoint):
    state = torch.load(tiny_checkpoint, weights_only=True)['state_dict']
    for key, value in inferencer.model.state_dict().items():
        assert torch.equal(value.cpu(), state[key]), key


def test_array_and_list_inputs(inferencer):
    img = cv2.imread(GOOD)
    result = inferencer([img, GOOD], batch_size=2)
    preds = result['predictions']
    assert len(preds) == 2 and result['failures'] == []
    assert [p['masks'][0]['image_id'] for p in preds] == [0, 1]
    assert preds[0]['image'] == 'array_0' and preds[1]['image'] == GOOD
    for pred in preds:
        check_prediction(pred, 48, 64)
    # an array is an H x W x 3 BGR image like a file read by OpenCV: the
    # same pixels give the same prediction
    single = inferencer(img)['predictions'][0]
    from_file = inferencer(GOOD)['predictions'][0]
    assert [m['segmentation'] for m in single['masks']] == \
        [m['segmentation'] for m in from_file['masks']]


def test_folder_with_bad_files(inferencer, tmp_path):
    with pytest.warns(UserWarning) as record:
        result = inferencer(IMAGES)
    names = sorted(osp.basename(p['image']) for p in result['predictions'])
    # the bad file does not stop the others
    assert names == ['good.png', 'gray.png', 'rgba.png']
    [failure] = result['failures']
    assert failure['input'].endswith('broken.png')
    assert 'broken.png' in failure['error'] and 'not a readable image' in \
        failure['error']
    [skipped] = result['skipped']
    assert 'notes.txt' in skipped
    notes = {
        osp.basename(p['image']): p['notes']
        for p in result['predictions']
    }
    assert notes['good.png'] == []
    assert 'grayscale image converted to 3 channels' in notes['gray.png'][0]
    assert 'RGBA image converted' in notes['rgba.png'][0]
    messages = ' '.join(str(w.message) for w in record)
    assert 'grayscale' in messages and 'RGBA' in messages
    for pred in result['predictions']:
        check_prediction(pred, 48, 64)


def test_levels_subset(inferencer):
    pred = inferencer(GOOD, levels=['part', 'entity'])['predictions'][0]
    assert levels_of(pred) == {'part', 'entity'}
    assert {link['type'] for link in pred['links']} == {'entity-part'}
    check_prediction(pred, 48, 64)
    pred = inferencer(GOOD, levels='relation')['predictions'][0]
    assert levels_of(pred) == {'relation'} and pred['links'] == []


def test_unknown_level(inferencer):
    with pytest.raises(ValueError, match=r"unknown level name\(s\) \['car'\]"):
        inferencer(GOOD, levels=['entity', 'car'])


def test_prompt_inference(inferencer):
    prompt = cv2.imread(osp.join(PROMPTS, 'box.png'), 0) > 0
    result = inferencer(
        GOOD, prompt=osp.join(PROMPTS, 'box.png'), prompt_decoder='part')
    [pred] = result['predictions']
    assert pred['prompt'] == dict(
        decoder='part', prompt_type='one_entity', level='part')
    assert levels_of(pred) == {'part'} and pred['links'] == []
    check_prediction(pred, 48, 64)
    # drill-down masks are sub-masks of the prompt
    for mask in pred['masks']:
        assert not (decode_rle(mask['segmentation']) & ~prompt).any()
    # the relation decoder splits a prompt into entities
    pred = inferencer(
        GOOD, prompt=prompt, prompt_decoder='relation')['predictions'][0]
    assert pred['prompt']['level'] == 'entity'
    assert levels_of(pred) == {'entity'}


def test_box_prompt_equals_the_box_as_a_mask(inferencer):
    box = (10, 6, 42.5, 30)
    mask = np.zeros((48, 64), bool)
    mask[6:30, 10:43] = True
    by_box = inferencer(GOOD, prompt=box)['predictions'][0]
    by_mask = inferencer(GOOD, prompt=mask)['predictions'][0]
    assert by_box['masks'] and by_box['masks'] == by_mask['masks']
    session = inferencer.session(GOOD)
    # the two prompts share a decoder pass: same masks, scores to float
    # precision
    [a, b] = session.prompt([list(box), mask], decoder='part')
    assert a['masks'] == b['masks']
    for got, want in zip(a['masks'], by_mask['masks']):
        assert got['segmentation'] == want['segmentation']
        assert got['score'] == pytest.approx(want['score'], abs=1e-6)
    assert session.prompt(box)[0]['masks'] == by_mask['masks']
    with pytest.raises(ValueError, match='x1 < x2'):
        session.prompt((30, 6, 10, 30))
    # a box outside the image fails that image, named, like any bad input
    [failure] = inferencer(GOOD, prompt=(100, 100, 120, 120))['failures']
    assert 'lies outside the image (64 x 48, w x h)' in str(failure)


def test_prompt_of_another_size_is_resized(inferencer):
    with pytest.warns(
            UserWarning,
            match='prompt of size 24x32 resized to '
            'the image size 48x64'):
        result = inferencer(GOOD, prompt=osp.join(PROMPTS, 'box_small.png'))
    check_prediction(result['predictions'][0], 48, 64)
    stretched = np.ones((10, 40), bool)
    with pytest.warns(UserWarning, match='aspect ratio differs'):
        inferencer(GOOD, prompt=stretched)


def test_bad_prompts(inferencer):
    with pytest.raises(ValueError, match='empty.png: the prompt is empty'):
        inferencer(GOOD, prompt=osp.join(PROMPTS, 'empty.png'))
    with pytest.raises(ValueError, match='missing.png: file not found'):
        inferencer(GOOD, prompt=osp.join(PROMPTS, 'missing.png'))
    with pytest.raises(ValueError, match='unknown prompt decoder "car"'):
        inferencer(GOOD, prompt=np.ones((48, 64), bool), prompt_decoder='car')
    with pytest.raises(ValueError, match='2 prompts for 1 images'):
        inferencer(GOOD, prompt=[np.ones((48, 64), bool)] * 2)
    with pytest.raises(ValueError, match='need a prompt'):
        inferencer(GOOD, prompt_decoder='part')
    with pytest.raises(ValueError, match='prompt_snap need a prompt'):
        inferencer(GOOD, prompt_snap=False)
    with pytest.raises(ValueError, match='levels=.* excludes'):
        inferencer(GOOD, prompt=np.ones((48, 64), bool), levels=['entity'])


def test_session_computes_features_once(inferencer, monkeypatch):
    calls = []
    extract_feat = inferencer.model.extract_feat

    def counting_extract_feat(inputs):
        calls.append(tuple(inputs.shape))
        return extract_feat(inputs)

    monkeypatch.setattr(inferencer.model, 'extract_feat',
                        counting_extract_feat)
    session = inferencer.session(GOOD)
    assert len(calls) == 1
    one_step = session.predict()
    box = cv2.imread(osp.join(PROMPTS, 'box.png'), 0)
    left = np.zeros((48, 64), bool)
    left[:, :32] = True
    parts = session.prompt([box, left], decoder='part')
    entities = session.prompt(left, decoder='entity')
    assert len(calls) == 1
    assert len(parts) == 2 and len(entities) == 1
    assert parts[0]['prompt']['decoder'] == 'part'
    assert entities[0]['prompt'] == dict(
        decoder='entity', prompt_type='partial', level='entity')
    for pred in parts + entities:
        check_prediction(pred, 48, 64)
    # one-step inference on cached features equals the plain call
    plain = inferencer(GOOD)['predictions'][0]
    assert one_step['masks'] == plain['masks']
    assert one_step['links'] == plain['links']
    # inferencer.prompt: one image, several prompts, one feature pass
    calls.clear()
    assert len(inferencer.prompt(GOOD, [box, left], decoder='part')) == 2
    assert len(calls) == 1
    calls.clear()
    inferencer.prompt(session, box)
    assert calls == []


def _count_calls(monkeypatch, obj, name):
    """Count the calls of ``obj.name`` (the list grows by one a call)."""
    calls = []
    method = getattr(obj, name)

    def counting(*args, **kwargs):
        calls.append(1)
        return method(*args, **kwargs)

    monkeypatch.setattr(obj, name, counting)
    return calls


def test_session_snaps_rough_prompts_on_one_cached_one_step(
        inferencer, monkeypatch):
    """With ``test_cfg.prompt_snap`` (or ``snap=True`` per call) a session
    computes the one-step prediction once and drills into the entity a box
    matches best: the same as drilling into that entity's mask without
    snapping; ``snap=False`` per call overrides the config."""
    model = inferencer.model
    session = inferencer.session(GOOD)
    entity = [
        m for m in session.predict()['masks'] if m['level'] == 'entity'
    ][0]
    box = box_of(entity['segmentation'])
    fresh = inferencer.session(GOOD)
    calls = _count_calls(monkeypatch, model, 'predict_by_feat')
    monkeypatch.setattr(model, 'prompt_snap', True)
    # an entity-decoder prompt is never snapped: no one-step pass for it
    fresh.prompt(box, decoder='entity')
    assert calls == [] and fresh._reference is None
    [snapped] = session.prompt(box, return_datasamples=True)
    [again] = session.prompt([box, box], decoder='part')[:1]
    sample = session.prompt_sample(box)
    [not_snapped] = session.prompt(box, snap=False)
    assert len(calls) == 1
    iou = snapped.metainfo['prompt_snap_iou']
    assert 0 < iou <= 1
    mask = snapped.prompt_mask.data[0, :48, :64].numpy()
    monkeypatch.setattr(model, 'prompt_snap', False)
    [by_mask] = session.prompt(mask)
    [by_box] = session.prompt(box)
    # per call: snap=True without test_cfg.prompt_snap, snap=False with it
    [per_call] = inferencer.prompt(session, box, snap=True)
    assert by_mask['masks'] == per_call['masks']
    # a batch of two prompts: the same masks, scores to float precision
    assert [m['segmentation'] for m in again['masks']] == \
        [m['segmentation'] for m in by_mask['masks']]
    assert [m['score'] for m in again['masks']] == pytest.approx(
        [m['score'] for m in by_mask['masks']], abs=1e-6)
    assert not_snapped['masks'] == by_box['masks']
    assert torch.equal(sample.pred_part_instances.masks,
                       snapped.pred_part_instances.masks)
    assert by_box['masks'] != by_mask['masks']


def test_clip_per_call_equals_the_same_test_cfg(inferencer, monkeypatch):
    """``clip=`` per call gives what ``test_cfg.prompt_clip`` gives, for
    these prompts only; it is recorded in the sample's metainfo; an
    unknown mode is refused."""
    session = inferencer.session(GOOD)
    post = inferencer.model.post_processor
    box = (6, 4, 40, 30)
    hard = session.prompt(box)[0]
    results = {}
    for clip in ('margin', 'entities', 'none', 'hard'):
        [per_call] = session.prompt(box, clip=clip)
        sample = session.prompt_sample(box, clip=clip)
        assert sample.metainfo['prompt_clip'] == clip
        with monkeypatch.context() as m:
            m.setattr(post, 'test_cfg', dict(post.test_cfg, prompt_clip=clip))
            [by_cfg] = session.prompt(box)
        assert per_call == by_cfg, clip
        results[clip] = per_call
    assert results['hard'] == hard
    assert results['none']['masks'] != hard['masks']
    assert results['margin']['masks'] != hard['masks']
    assert results['entities']['masks'] != hard['masks']
    # per call overrides the config the other way too
    with monkeypatch.context() as m:
        m.setattr(post, 'test_cfg', dict(post.test_cfg, prompt_clip='none'))
        assert inferencer.prompt(session, box, clip='hard')[0] == hard
    with pytest.raises(ValueError, match='prompt_clip must be one of'):
        session.prompt(box, clip='soft')


def test_auto_clip_per_prompt(inferencer, monkeypatch):
    """``clip='auto'`` cuts a box and a mask given as exact at the prompt
    (``hard``) and a mask given as drawn as ``test_cfg.prompt_clip`` says
    (here ``margin``), each prompt of a batch its own way."""
    session = inferencer.session(GOOD)
    post = inferencer.model.post_processor
    monkeypatch.setattr(post, 'test_cfg',
                        dict(post.test_cfg, prompt_clip='margin'))
    box = (6, 4, 40, 30)
    mask = np.zeros(session.shape, bool)
    mask[4:30, 6:40] = True
    results = session.prompt([box, mask, mask],
                             clip='auto',
                             rough=[True, False, True])
    alone = [
        session.prompt(box, clip='hard', rough=True)[0],
        session.prompt(mask, clip='hard')[0],
        session.prompt(mask, rough=True)[0],
    ]

    def scores(result):
        # a batch of prompts gives the same masks, scores to float
        # precision (near ties may swap places)
        return {m['segmentation']['counts']: m['score']
                for m in result['masks']}

    for batched, single in zip(results, alone):
        assert scores(batched) == pytest.approx(scores(single), abs=1e-5)
    assert scores(results[1]).keys() != scores(results[2]).keys()
    sample = session.prompt_sample(box, clip='auto', rough=True)
    assert sample.metainfo['prompt_clip'] == 'hard'
    assert inferencer.prompt(
        session, mask, clip='auto', rough=True) == [alone[2]]


def test_session_clips_to_entities_of_one_cached_one_step(
        inferencer, monkeypatch):
    """``clip='entities'`` takes the one-step entities of the session's
    image, computed once for every prompt of the session."""
    model = inferencer.model
    session = inferencer.session(GOOD)
    calls = _count_calls(monkeypatch, model, 'predict_by_feat')
    first = session.prompt((6, 4, 40, 30), clip='entities')[0]
    session.prompt([(6, 4, 40, 30), (2, 2, 20, 20)], clip='entities')
    session.prompt_sample((2, 2, 20, 20), clip='entities')
    assert len(calls) == 1
    # the result is that of the model given the same one-step reference
    [sample] = session.prompt((6, 4, 40, 30), clip='entities',
                              return_datasamples=True)
    assert sample.metainfo['prompt_clip'] == 'entities'
    assert first['masks'] == session.prompt((6, 4, 40, 30),
                                            clip='entities')[0]['masks']
    assert len(calls) == 1


def test_session_does_not_use_the_inferencer(inferencer, monkeypatch):
    session = inferencer.session(GOOD)
    assert not any(value is inferencer for value in vars(session).values())
    box = cv2.imread(osp.join(PROMPTS, 'box.png'), 0)
    with monkeypatch.context() as m:

        def no_inferencer(self, name):
            raise AssertionError(f'the session used inferencer.{name}')

        # any attribute of any inferencer, methods included
        m.setattr(AIMSInferencer, '__getattribute__', no_inferencer)
        one_step = session.predict(levels=['part', 'entity'])
        [parts] = session.prompt(box, decoder='part')
        [sample] = session.prompt(box, return_datasamples=True)
    assert levels_of(one_step) == {'part', 'entity'}
    assert parts['prompt']['decoder'] == 'part'
    check_prediction(parts, 48, 64)
    assert sample.metainfo['task']['decoder'] == 'part'


@pytest.mark.parametrize('prompt', [None, osp.join(PROMPTS, 'box.png')])
def test_each_image_is_read_once(inferencer, tmp_path, monkeypatch, prompt):
    """One call that draws and writes every output reads each image once
    and converts each predicted sample once, drawing the trees it
    returns."""
    import mmaims.apis.aims_inferencer as module
    import mmaims.visualization as visualization
    calls = dict(
        load_image=0, pipeline=0, sample_to_result=0, build_hierarchy=0)
    drawn_trees = []

    def counted(name, func):

        def wrapper(*args, **kwargs):
            calls[name] += 1
            return func(*args, **kwargs)

        return wrapper

    draw_scene_graph = visualization.draw_scene_graph

    def recording_draw_scene_graph(image, tree, masks):
        drawn_trees.append(tree)
        return draw_scene_graph(image, tree, masks)

    for name in ('load_image', 'sample_to_result', 'build_hierarchy'):
        monkeypatch.setattr(module, name, counted(name,
                                                  getattr(module, name)))
    monkeypatch.setattr(inferencer, 'pipeline',
                        counted('pipeline', inferencer.pipeline))
    monkeypatch.setattr(visualization, 'draw_scene_graph',
                        recording_draw_scene_graph)
    img = cv2.imread(GOOD)
    out = tmp_path / 'out'
    result = inferencer([GOOD, img],
                        prompt=prompt,
                        batch_size=2,
                        return_vis=True,
                        out_dir=str(out))
    assert result['failures'] == []
    assert calls == dict(
        load_image=2, pipeline=2, sample_to_result=2, build_hierarchy=2)
    assert [id(tree) for tree in drawn_trees] == \
        [id(tree) for tree in result['hierarchy']]
    assert len(result['visualization']) == 2
    for name, pred, tree in zip(('good', 'array_1'), result['predictions'],
                                result['hierarchy']):
        assert mmengine.load(out / 'preds' / f'{name}.json') == pred
        assert mmengine.load(out / 'hierarchy' / f'{name}.json') == tree
        assert (out / 'hierarchy' / f'{name}.png').is_file()


def test_out_dir_files(inferencer, tmp_path):
    shutil.copy(GOOD, tmp_path / 'scene.png')
    result = inferencer(
        str(tmp_path / 'scene.png'),
        out_dir=str(tmp_path / 'out'),
        pred_score_thr=0.0,
        return_vis=True)
    # the three level panels side by side, RGB
    [drawn] = result['visualization']
    assert drawn.shape == (48 * 6, 3 * 64 * 6, 3)
    out = tmp_path / 'out'
    for rel in ('preds/scene.json', 'hierarchy/scene.json',
                'hierarchy/scene.png', 'vis/scene.png', 'vis/scene_part.png',
                'vis/scene_entity.png', 'vis/scene_relation.png'):
        assert (out / rel).is_file(), rel
    vis = cv2.imread(str(out / 'vis' / 'scene_part.png'))
    # small images are enlarged for drawing (min_size 256 of the visualizer)
    assert vis.shape == (48 * 6, 64 * 6, 3)


def check_id_map(out, name, level, pred, score_thr):
    """``idmap/<name>_<level>.png`` is the non-overlapping version of the
    level's JSON masks above ``score_thr``, keyed by their ids."""
    id_map = load_id_map(str(out / 'idmap' / f'{name}_{level}.png'))
    assert id_map.shape == (pred['height'], pred['width'])
    masks = [
        m for m in pred['masks']
        if m['level'] == level and m['score'] > score_thr
    ]
    keep, disjoint = make_disjoint_rles([m['segmentation'] for m in masks],
                                        [m['score'] for m in masks],
                                        [m['id'] for m in masks])
    decoded = id_map_to_masks(id_map)
    assert list(decoded) == [masks[row]['id'] for row in keep.tolist()]
    for row, rle in zip(keep.tolist(), disjoint):
        assert np.array_equal(decoded[masks[row]['id']], decode_rle(rle))
    return decoded


def test_id_maps(inferencer, tmp_path):
    out = tmp_path / 'out'
    inferencer(GOOD, out_dir=str(out), no_save_vis=True)
    pred = mmengine.load(out / 'preds' / 'good.json')
    for level in ('part', 'entity'):
        assert check_id_map(out, 'good', level, pred, 0.3)
    # relation masks overlap by design: no id map
    assert sorted(p.name for p in (out / 'idmap').iterdir()) == [
        'good_entity.png', 'good_part.png'
    ]
    # a threshold above every score: an empty map, still written
    inferencer(GOOD, out_dir=str(out), pred_score_thr=1.0, no_save_vis=True)
    assert not load_id_map(str(out / 'idmap' / 'good_entity.png')).any()
    # switched off like the other outputs
    inferencer(
        GOOD,
        out_dir=str(tmp_path / 'off'),
        no_save_vis=True,
        no_save_idmap=True)
    assert (tmp_path / 'off' / 'preds' / 'good.json').is_file()
    assert not (tmp_path / 'off' / 'idmap').exists()


def test_config_name_and_random_weights(tiny_checkpoint):
    cfg = AIMSInferencer.resolve_config('aims_r50')
    assert cfg.model.type == 'AIMS'
    assert AIMSInferencer.resolve_config('aims_r50.py').filename == \
        cfg.filename
    with pytest.raises(FileNotFoundError, match='known names: .*aims_r50'):
        AIMSInferencer.resolve_config('aims_nonexistent')
    with pytest.raises(FileNotFoundError, match='neither a file'):
        AIMSInferencer.resolve_config('no/such/config.py')
    with pytest.warns(UserWarning, match='random weights'):
        inferencer = AIMSInferencer(TINY_CONFIG, show_progress=False)
    assert str(next(inferencer.model.parameters()).device) == (
        'cuda:0' if torch.cuda.is_available() else 'cpu')


def test_prompts_of_several_decoders_in_one_call(inferencer):
    session = inferencer.session(GOOD)
    box = cv2.imread(osp.join(PROMPTS, 'box.png'), 0) > 0
    left = np.zeros((48, 64), bool)
    left[:, :32] = True
    mixed = session.prompt([box, left, box],
                           decoder=['part', 'relation', 'relation'])
    assert [m['prompt']['decoder'] for m in mixed] == [
        'part', 'relation', 'relation'
    ]
    alone = [
        session.prompt(box, decoder='part')[0],
        session.prompt(left, decoder='relation')[0],
        session.prompt(box, decoder='relation')[0]
    ]
    for got, want in zip(mixed, alone):
        assert [m['segmentation'] for m in got['masks']
                ] == [m['segmentation'] for m in want['masks']]
        assert got['prompt'] == want['prompt']
    with pytest.raises(ValueError, match='2 decoders for 3 prompts'):
        session.prompt([box, left, box], decoder=['part', 'relation'])


def test_drill_down_all_expands_the_hierarchy(inferencer):
    session = inferencer.session(GOOD)
    result = session.drill_down_all(score_thr=0.0)
    one_step = session.predict()
    assert result['masks'] == one_step['masks']
    masks = {m['id']: m for m in one_step['masks']}
    parents = [
        m for m in one_step['masks']
        if m['level'] in ('entity', 'relation') and m['score'] > 0.0
    ]
    assert parents
    assert [e['parent_id'] for e in result['drill_down']] == [
        m['id'] for m in parents if m['level'] == 'entity'
    ] + [m['id'] for m in parents if m['level'] == 'relation']
    for entry in result['drill_down']:
        parent = masks[entry['parent_id']]
        expected = dict(entity=('part', 'one_entity', 'part'),
                        relation=('relation', 'two_entities', 'entity'))
        assert (entry['decoder'], entry['prompt_type'],
                entry['level']) == expected[parent['level']]
        # each entry equals prompting its parent alone
        [alone] = session.prompt(
            decode_rle(parent['segmentation']), decoder=entry['decoder'])
        assert [m['segmentation'] for m in entry['masks']
                ] == [m['segmentation'] for m in alone['masks']]
    # a threshold above every score drills into nothing
    assert session.drill_down_all(score_thr=1.0)['drill_down'] == []


@pytest.fixture(scope='module')
def cropformer_inferencer(cropformer_checkpoint):
    return AIMSInferencer(
        CROPFORMER_CONFIG,
        cropformer_checkpoint,
        device='cpu',
        show_progress=False)


def test_cropformer_one_step(cropformer_inferencer, cropformer_checkpoint,
                             tmp_path):
    state = torch.load(cropformer_checkpoint, weights_only=True)['state_dict']
    weight = 'batch_head.batch_decoder.query_embed.weight'
    assert torch.equal(cropformer_inferencer.model.state_dict()[weight].cpu(),
                       state[weight])
    rng = np.random.default_rng(0)
    # odd, non-square sizes of both orientations, one of them grayscale;
    # one batch: the views of both images are padded together
    odd = (rng.random((37, 53, 3)) * 255).astype(np.uint8)
    gray = (rng.random((61, 29)) * 255).astype(np.uint8)
    out = tmp_path / 'out'
    with pytest.warns(UserWarning, match='grayscale'):
        result = cropformer_inferencer([odd, gray],
                                       batch_size=2,
                                       out_dir=str(out),
                                       pred_score_thr=0.0,
                                       no_save_vis=True)
    assert result['failures'] == []
    assert sorted(p.name for p in (out / 'idmap').iterdir()) == [
        'array_0_entity.png', 'array_1_entity.png'
    ]
    sizes = ((37, 53), (61, 29))
    for name, pred, (height, width) in zip(('array_0', 'array_1'),
                                           result['predictions'], sizes):
        check_prediction(pred, height, width)
        # CropFormer segments entities only
        assert levels_of(pred) == {'entity'} and pred['links'] == []
        assert mmengine.load(out / 'preds' / f'{name}.json') == pred
        decoded = check_id_map(out, name, 'entity', pred, 0.0)
        # its masks are disjoint already (test_cfg.nonoverlap): the map
        # holds each of them whole
        assert list(decoded) == [m['id'] for m in pred['masks']]


def test_cropformer_refuses_prompts_and_sessions(cropformer_inferencer):
    message = 'CropFormer models take no prompt'
    prompt = np.ones((48, 64), bool)
    for decoder in (None, 'entity'):
        with pytest.raises(ValueError, match=message):
            cropformer_inferencer(GOOD, prompt=prompt, prompt_decoder=decoder)
    with pytest.raises(ValueError, match=message):
        cropformer_inferencer.session(GOOD)
    with pytest.raises(ValueError, match=message):
        cropformer_inferencer.prompt(GOOD, prompt, decoder='entity')
    with pytest.raises(ValueError, match=message):
        AIMSImageSession(cropformer_inferencer.model, {}, cv2.imread(GOOD),
                         'good')
    # entities are all it outputs: levels without them are refused
    with pytest.raises(ValueError, match='output entity masks only; '
                       r"levels=\['part', 'relation'\]"):
        cropformer_inferencer(GOOD, levels=['relation', 'part'])
    pred = cropformer_inferencer(
        GOOD, levels=['part', 'entity'])['predictions'][0]
    assert {m['level'] for m in pred['masks']} <= {'entity'}


def test_entity_framework_one_step(entity_condinst_checkpoint, tmp_path):
    """The entity framework (configs/entity/) through the same API: entity
    masks of an odd-sized image, their id map, and no prompts."""
    config = osp.join(
        osp.dirname(TESTS), 'configs', 'entity',
        'entity-condinst_r18_synthetic.py')
    inferencer = AIMSInferencer(
        config, entity_condinst_checkpoint, device='cpu', show_progress=False)
    # an untrained model: keep every detection
    inferencer.model.bbox_head.test_cfg.score_thr = 0.0
    image = (np.random.default_rng(1).random((45, 70, 3)) * 255).astype(
        np.uint8)
    out = tmp_path / 'out'
    result = inferencer(
        image, out_dir=str(out), pred_score_thr=0.0, no_save_vis=True)
    assert result['failures'] == []
    [pred] = result['predictions']
    check_prediction(pred, 45, 70)
    assert levels_of(pred) <= {'entity'} and pred['links'] == []
    assert len(pred['masks']) > 0
    decoded = check_id_map(out, 'array_0', 'entity', pred, 0.0)
    # non-overlapping already (test_cfg.nonoverlap): every mask whole
    assert list(decoded) == [m['id'] for m in pred['masks']]
    with pytest.raises(ValueError, match='EntityCondInst models take no'):
        inferencer(GOOD, prompt=np.ones((48, 64), bool))
    with pytest.raises(ValueError, match='EntityCondInst models take no'):
        inferencer.session(GOOD)


def test_rough_flag_of_drawn_prompts(flag_checkpoint):
    """``rough`` reaches a model trained with the rough-prompt flag through
    the session, ``prompt`` and the call; a box and the same box as a mask
    still give the same result."""
    cfg = AIMSInferencer.resolve_config(TINY_CONFIG)
    cfg.merge_from_dict(ROUGH_FLAG_OPTION)
    flagged = AIMSInferencer(
        cfg, flag_checkpoint, device='cpu', show_progress=False)
    box = (10, 6, 42.5, 30)
    mask = np.zeros((48, 64), bool)
    mask[6:30, 10:43] = True
    session = flagged.session(GOOD)
    drawn = session.prompt(box, rough=True)[0]
    picked = session.prompt(box)[0]
    assert drawn['masks'] and picked['masks']
    assert [m['score'] for m in drawn['masks']] != [
        m['score'] for m in picked['masks']
    ]
    assert session.prompt(mask, rough=True)[0]['masks'] == drawn['masks']
    called = flagged(GOOD, prompt=box, prompt_rough=True)['predictions'][0]
    assert called['masks'] == drawn['masks']
    # the result says what the model was told
    assert drawn['prompt']['rough'] is True
    assert called['prompt']['rough'] is True
    assert 'rough' not in picked['prompt']
    assert flagged.prompt(GOOD, mask, rough=True)[0]['masks'] == \
        drawn['masks']
    # one flag per prompt; the two share a decoder pass
    mixed = session.prompt([box, mask], rough=[True, False])
    for got, want in zip(mixed, (drawn, picked)):
        assert [m['segmentation'] for m in got['masks']] == [
            m['segmentation'] for m in want['masks']
        ]
    with pytest.raises(ValueError, match='1 rough flags for 2 prompts'):
        session.prompt([box, mask], rough=[True])
    with pytest.raises(ValueError, match='need a prompt'):
        flagged(GOOD, prompt_rough=True)
