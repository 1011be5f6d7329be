# Copyright (c) mmaims contributors. All rights reserved.
"""The logic of the drill-down page (demo/webui.py), without a browser:
:class:`DrillDownApp` on the tiny seeded model of tests/conftest.py."""
import importlib.util
import json
import os
import os.path as osp
import warnings

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from mmaims.structures import (LEVELS, decode_rle, hierarchy_edges,
                               validate_predictions)
from mmaims.structures.prompt_geometry import BoxPrompt, box_to_mask
from tests.conftest import box_of

TESTS = osp.dirname(osp.dirname(osp.abspath(__file__)))
REPO = osp.dirname(TESTS)
WEBUI = osp.join(REPO, 'demo', 'webui.py')
TINY_CONFIG = osp.join(TESTS, 'data', 'configs', 'aims_tiny.py')
IMAGES = osp.join(TESTS, 'data', 'inference', 'images')
GOOD = osp.join(IMAGES, 'good.png')  # 64 x 48
DEMO = osp.join(REPO, 'demo', 'demo.png')  # 128 x 128


@pytest.fixture(scope='module')
def webui():
    spec = importlib.util.spec_from_file_location('webui', WEBUI)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def app(webui, inferencer, tmp_path):
    return webui.DrillDownApp(inferencer, score_thr=0.3, out_dir=str(tmp_path))


@pytest.fixture
def loaded(app):
    view = app.load_image(DEMO)
    assert view.severity == 'info', view.message
    return app


def smallest_at(app, level, x, y):
    """The shown masks of a level containing a pixel, and the id the page
    must select there (smallest area, then higher score, then lower id)."""
    hits = [
        m for m in app.shown_masks(level)
        if decode_rle(m['segmentation'])[y, x]
    ]
    best = min(
        hits,
        key=lambda m: (int(decode_rle(m['segmentation']).sum()), -m['score'],
                       m['id'])) if hits else None
    return hits, best


def a_pixel_with_overlap(app, level):
    """A pixel under at least two shown masks of different areas."""
    masks = [decode_rle(m['segmentation']) for m in app.shown_masks(level)]
    areas = {int(m.sum()) for m in masks}
    assert len(masks) >= 2 and len(areas) >= 2
    cover = np.sum(masks, axis=0)
    ys, xs = np.nonzero(cover >= 2)
    for y, x in zip(ys, xs):
        if len({int(m.sum()) for m in masks if m[y, x]}) >= 2:
            return int(x), int(y)
    pytest.fail(f'no two {level} masks of different areas overlap')


def test_load_image(loaded):
    app = loaded
    view = app.view()
    assert view.overlay.shape == (128 * 4, 128 * 4, 3)
    assert view.overlay.dtype == np.uint8
    assert app.display_scale == 4
    pred = app.prediction
    assert {m['level'] for m in pred['masks']} == set(LEVELS)
    # the tree shows the shown masks, each as a node with its id
    shown = app.shown_masks()
    assert sum(app.tree['num_masks'].values()) == len(shown)
    for mask in shown:
        assert f'data-mask-id="{mask["id"]}"' in view.tree_html
    assert '<details' in view.tree_html
    # the overlay draws the entity masks (the default level) on the image
    plain = cv2.resize(
        cv2.imread(DEMO)[..., ::-1], (512, 512),
        interpolation=cv2.INTER_NEAREST)
    entity = app.shown_masks('entity')[0]
    inside = cv2.resize(
        decode_rle(entity['segmentation']).astype(np.uint8), (512, 512),
        interpolation=cv2.INTER_NEAREST).astype(bool)
    assert np.abs(view.overlay.astype(int) - plain)[inside].mean() > 10


def test_unreadable_image_is_a_message(app):
    view = app.load_image(osp.join(IMAGES, 'broken.png'))
    assert view.severity == 'error'
    assert 'broken.png' in view.message and 'not a readable image' in \
        view.message
    assert app.session is None and view.overlay is None
    view = app.load_image(None)
    assert view.severity == 'error' and 'upload' in view.message


def test_converted_image_is_noted(app):
    view = app.load_image(osp.join(IMAGES, 'gray.png'))
    assert view.severity == 'warning'
    assert 'grayscale image converted' in view.message
    assert app.session is not None


def test_click_selects_smallest_mask(loaded):
    app = loaded
    x, y = a_pixel_with_overlap(app, 'entity')
    hits, best = smallest_at(app, 'entity', x, y)
    assert len(hits) >= 2
    before = app.view().overlay
    view = app.click(x + 0.5, y + 0.5)
    assert view.severity == 'info', view.message
    assert app.selected['id'] == best['id']
    assert f'data-mask-id="{best["id"]}"' in view.selection_html
    # highlighted: the picture changed, the tree node is marked
    assert not np.array_equal(before, view.overlay)
    assert 'aims-selected' in view.tree_html
    # parents and children are those of the hierarchy tree
    parents, children = app.links_of(best['id'])
    edges = hierarchy_edges(app.tree)
    assert parents == [(p, s) for p, c, s in edges if c == best['id']]
    assert children == [(c, s) for p, c, s in edges if p == best['id']]
    for child, _ in children:
        assert f'data-mask-id="{child}"' in view.selection_html


def test_click_parts_and_nothing(loaded):
    app = loaded
    app.select_level('part')
    x, y = a_pixel_with_overlap(app, 'part')
    _, best = smallest_at(app, 'part', x, y)
    app.click(x, y)
    assert app.selected['id'] == best['id'] and app.selected['level'] == 'part'
    # a part is the lowest level: a message, nothing run
    view = app.drill_down()
    assert view.severity == 'error' and 'lowest level' in view.message
    assert app.drill is None
    # no mask above the threshold there: the selection is cleared
    app.set_score_thr(0.99)
    view = app.click(x, y)
    assert view.severity == 'info' and 'No part mask' in view.message
    assert app.selected is None
    view = app.click(500, 3)
    assert view.severity == 'error' and 'outside the image' in view.message


def test_level_selector(loaded):
    app = loaded
    view = app.select_level('relation')
    assert app.level == 'relation'
    view = app.select_level('object')
    assert view.severity == 'error' and 'Unknown level' in view.message
    assert app.level == 'relation'


def select_entity_with_parts(app):
    """Click an entity of the tiny model and drill into it."""
    x, y = a_pixel_with_overlap(app, 'entity')
    app.click(x, y)
    assert app.selected['level'] == 'entity'
    return app.drill_down()


def test_drill_down_draws_parts(loaded):
    app = loaded
    view = select_entity_with_parts(app)
    assert view.severity == 'info', view.message
    entity = app.selected
    drill = app.drill
    assert drill['prompt'] == dict(
        decoder='part', prompt_type='one_entity', level='part')
    children = drill['children']
    assert children and all(m['level'] == 'part' for m in children)
    assert all(m['score'] > app.score_thr for m in children)
    # the same prompt run on the session directly
    expected = app.session.prompt(
        decode_rle(entity['segmentation']), decoder='part')[0]
    assert [m['segmentation'] for m in children] == [
        m['segmentation'] for m in expected['masks']
        if m['score'] > app.score_thr
    ]
    # parts lie in the entity (hard clip, at the network input size: up
    # to the edge pixels of the 2x downsized prompt), and are drawn
    prompt = decode_rle(entity['segmentation'])
    near = cv2.dilate(prompt.astype(np.uint8), np.ones((5, 5), np.uint8))
    for mask in children:
        assert not (decode_rle(mask['segmentation'])
                    & ~near.astype(bool)).any()
    assert view.drill_image.shape == view.overlay.shape
    plain = cv2.resize(
        cv2.imread(DEMO)[..., ::-1], (512, 512),
        interpolation=cv2.INTER_NEAREST)
    assert (view.drill_image != plain).any(axis=2).mean() > 0.05
    assert f'data-parent-id="{entity["id"]}"' in view.drill_html
    assert f'data-count="{len(children)}"' in view.drill_html
    for mask in children:
        assert f'data-mask-id="{mask["id"]}"' in view.drill_html


def test_drill_down_relation_gives_entities(app):
    # the tiny model's relations score below 0.3: show them all
    app.score_thr = 0.0
    app.load_image(DEMO)
    app.select_level('relation')
    relation = app.shown_masks('relation')[0]
    ys, xs = np.nonzero(decode_rle(relation['segmentation']))
    app.click(xs[0], ys[0])
    assert app.selected['level'] == 'relation'
    view = app.drill_down()
    assert view.severity == 'info', view.message
    assert app.drill['prompt'] == dict(
        decoder='relation', prompt_type='two_entities', level='entity')
    assert 'data-level="entity"' in view.drill_html


def test_features_computed_once(app, monkeypatch):
    model = app.inferencer.model
    calls = []
    extract_feat = model.extract_feat

    def counting(*args, **kwargs):
        calls.append(1)
        return extract_feat(*args, **kwargs)

    monkeypatch.setattr(model, 'extract_feat', counting)
    app.load_image(DEMO)
    assert len(calls) == 1
    select_entity_with_parts(app)
    app.drill_down()
    app.drill_down_box('10, 20, 60, 90')
    app.select_level('part')
    app.export()
    assert len(calls) == 1
    app.load_image(GOOD)
    assert len(calls) == 2


def test_empty_brush_mask_is_a_message(loaded):
    app = loaded
    empty = dict(
        background=np.zeros((128, 128, 3), np.uint8),
        layers=[np.zeros((128, 128, 4), np.uint8)],
        composite=np.zeros((128, 128, 4), np.uint8))
    for value in (empty, None, dict(background=None, layers=[])):
        view = app.drill_down_brush(value, 'part')
        assert view.severity == 'error' and 'brush mask is empty' in \
            view.message
    assert app.drill is None


def test_brush_mask(loaded):
    app = loaded
    layer = np.zeros((128, 128, 4), np.uint8)
    layer[70:110, 10:50] = (255, 59, 48, 255)
    value = dict(
        background=np.zeros((128, 128, 3), np.uint8),
        layers=[layer],
        composite=None)
    view = app.drill_down_brush(value, 'part')
    assert view.severity == 'info', view.message
    region = np.zeros((128, 128), bool)
    region[70:110, 10:50] = True
    assert np.array_equal(app.drill['prompt_mask'], region)
    expected = app.session.prompt(region, decoder='part')[0]
    assert app.drill['result']['masks'] == expected['masks']
    assert app.drill['parent'] is None and \
        'data-source="brush"' in view.drill_html


def test_box_equals_mask(loaded, tmp_path):
    app = loaded
    view = app.drill_down_box('10, 20.5, 60, 90', 'part')
    assert view.severity == 'info', view.message
    from_box = app.drill['result']
    mask = box_to_mask(BoxPrompt(10, 20.5, 60, 90), (128, 128))
    path = str(tmp_path / 'box.png')
    cv2.imwrite(path, mask.astype(np.uint8) * 255)
    view = app.drill_down_mask(path, 'part')
    assert view.severity == 'info', view.message
    assert app.drill['result']['masks'] == from_box['masks']
    assert from_box['masks'], 'a box prompt of the tiny model gives masks'
    # other decoders and bad boxes
    view = app.drill_down_box((10, 20, 60, 90), 'entity')
    assert app.drill['prompt']['decoder'] == 'entity'
    for bad in ('10, 20, 60', 'a, b, c, d', '60, 20, 10, 90',
                '500, 500, 600, 600'):
        view = app.drill_down_box(bad, 'part')
        assert view.severity == 'error', bad
    view = app.drill_down_box('10, 20, 60, 90', 'object')
    assert view.severity == 'error' and 'unknown prompt decoder' in \
        view.message


def test_snap_checkbox_drills_into_the_predicted_mask(loaded):
    """With ``snap`` a box drills into the one-step entity it matches
    best, as the session's ``snap=True`` does; without it, into the box."""
    app = loaded
    entity = max((m for m in app.prediction['masks']
                  if m['level'] == 'entity'),
                 key=lambda m: m['score'])
    box = box_of(entity['segmentation'])
    results = {}
    for snap in (False, True):
        view = app.drill_down_box(box, 'part', snap=snap)
        assert view.severity == 'info', view.message
        results[snap] = app.drill['result']['masks']
    [want] = app.session.prompt(box, snap=True)
    assert results[True] == want['masks']
    assert results[True] != results[False]


def test_clip_choice_cuts_the_children_as_the_session(loaded):
    """The page's clip choice reaches the session (``clip=`` per call);
    an unknown mode is an error message, not an exception."""
    app = loaded
    box = (6, 4, 40, 30)
    results = {}
    for clip in ('hard', 'margin', 'entities', 'none'):
        view = app.drill_down_box(box, 'part', clip=clip)
        assert view.severity == 'info', view.message
        results[clip] = app.drill['result']['masks']
        assert results[clip] == app.session.prompt(box, clip=clip)[0]['masks']
    assert results['none'] != results['hard']
    view = app.drill_down_box(box, 'part', clip='soft')
    assert view.severity == 'error' and 'prompt_clip' in view.message


def record_session_calls(app, monkeypatch, tmp_path, key):
    """Record the ``key`` argument of every ``session.prompt`` call of the
    page; returns the list, the unpatched ``session.prompt``, and a region
    (array) with the same region as a PNG file."""
    told = []
    prompt = app.session.prompt

    def record(*args, **kwargs):
        told.append(kwargs[key])
        return prompt(*args, **kwargs)

    monkeypatch.setattr(app.session, 'prompt', record)
    region = np.zeros((128, 128), bool)
    region[70:110, 10:50] = True
    path = str(tmp_path / 'region.png')
    cv2.imwrite(path, region.astype(np.uint8) * 255)
    return told, prompt, region, path


def test_auto_clip_by_where_the_region_comes_from(loaded, tmp_path,
                                                  monkeypatch):
    """``clip='auto'`` (the page's default) cuts the children of a box and
    of a region taken as exact (a selected mask, a mask file) at the
    region (``hard``) and leaves a brushed region to the model's
    ``test_cfg.prompt_clip`` (here ``margin``); another choice reaches the
    session as it is, for a selection too."""
    app = loaded
    monkeypatch.setitem(app.model.post_processor.test_cfg, 'prompt_clip',
                        'margin')
    told, prompt, region, path = record_session_calls(app, monkeypatch,
                                                      tmp_path, 'clip')
    x, y = a_pixel_with_overlap(app, 'entity')
    app.click(x, y)
    views = [
        app.drill_down(clip='auto'),
        app.drill_down_box('10, 20, 60, 90', 'part', clip='auto'),
        app.drill_down_brush(region, 'part', clip='auto'),
        app.drill_down_mask(path, 'part', clip='auto'),
        app.drill_down(clip='margin'),
        app.drill_down(),
    ]
    assert [v.severity for v in views] == ['info'] * 6
    assert told == ['hard', 'hard', None, 'hard', 'margin', None]
    # what the session then gives: the box cut at the box, not at the
    # model's margin
    app.drill_down_box('10, 20, 60, 90', 'part', clip='auto')
    box = (10, 20, 60, 90)
    hard = prompt(box, clip='hard', rough=True)[0]['masks']
    assert app.drill['result']['masks'] == hard
    assert prompt(box, rough=True)[0]['masks'] != hard


def test_drawn_prompts_are_rough_picked_ones_exact(loaded, tmp_path,
                                                   monkeypatch):
    """A brushed region and a box reach the session as drawn
    (``rough=True``), a selected mask and a mask file as exact."""
    app = loaded
    told, _, region, path = record_session_calls(app, monkeypatch, tmp_path,
                                                 'rough')
    views = [
        select_entity_with_parts(app),  # drills into the selection
        app.drill_down_brush(region, 'part'),
        app.drill_down_box('10, 20, 60, 90', 'part'),
        app.drill_down_mask(path, 'part')
    ]
    assert [v.severity for v in views] == ['info'] * 4
    assert told == [False, True, True, False]


def test_mask_file_of_another_size_is_noted(loaded, tmp_path):
    app = loaded
    path = str(tmp_path / 'small.png')
    small = np.zeros((64, 64), np.uint8)
    small[30:50, 5:25] = 255
    cv2.imwrite(path, small)
    view = app.drill_down_mask(path, 'part')
    assert view.severity == 'warning' and 'resized' in view.message
    assert app.drill['prompt_mask'].shape == (128, 128)
    view = app.drill_down_mask(str(tmp_path / 'missing.png'), 'part')
    assert view.severity == 'error' and 'not found' in view.message


def test_actions_before_an_image(app):
    for view in (app.click(3, 4), app.drill_down(),
                 app.drill_down_box('1, 2, 3, 4'), app.export()):
        assert view.severity == 'error'
        assert view.message == 'Load an image first.'
    assert app.view().overlay is None


def test_downloads(loaded):
    app = loaded
    select_entity_with_parts(app)
    view = app.export()
    assert view.severity == 'info', view.message
    files = view.files
    names = [osp.basename(f) for f in files]
    entity = app.selected
    children = app.drill['children']
    assert names == ([
        'demo.json', 'demo_hierarchy.json', f'demo_entity_{entity["id"]}.png',
        'demo_drill_down.json'
    ] + [f'demo_drill_part_{m["id"]}.png' for m in children])
    folder = osp.dirname(files[0])
    assert osp.dirname(folder) == app.out_dir
    # written atomically: no temporary file left beside them
    assert sorted(os.listdir(folder)) == sorted(names)
    with open(files[0]) as f:
        pred = json.load(f)
    validate_predictions(
        pred, gt=dict(images=[dict(id=0, height=128, width=128)]))
    assert pred == json.loads(json.dumps(app.prediction))
    with open(files[1]) as f:
        tree = json.load(f)
    assert set(tree) >= {'relations', 'entities', 'parts', 'num_masks'}
    assert tree['image'] == DEMO
    png = cv2.imread(files[2], cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint8 and set(np.unique(png)) <= {0, 255}
    assert np.array_equal(png > 0, decode_rle(entity['segmentation']))
    with open(files[3]) as f:
        drill = json.load(f)
    assert drill['prompt']['level'] == 'part'
    for path, mask in zip(files[4:], children):
        png = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        assert np.array_equal(png > 0, decode_rle(mask['segmentation']))
    # a second export goes to a new folder
    assert osp.dirname(app.export().files[0]) != folder


def test_model_without_prompt_encoder(webui, tiny_checkpoint, tmp_path):
    from mmaims.apis import AIMSInferencer
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.model.prompt_encoder = None
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        # the seeded tiny weights (the prompt encoder's are left unused),
        # so that the one-step output does not depend on the test order
        inferencer = AIMSInferencer(
            cfg, tiny_checkpoint, device='cpu', show_progress=False)
    assert not inferencer.model.with_prompt_encoder
    app = webui.DrillDownApp(inferencer, out_dir=str(tmp_path))
    app.load_image(DEMO)
    view = select_entity_with_parts(app)
    assert view.severity == 'warning'
    assert 'no mask prompt encoder' in view.message
    view = app.drill_down_box('10, 20, 60, 90', 'part')
    assert view.severity == 'warning'
    assert 'no mask prompt encoder' in view.message


def test_fork_keeps_the_model_not_the_image(loaded):
    other = loaded.fork()
    assert other.inferencer is loaded.inferencer
    assert other.session is None and loaded.session is not None
    assert other.out_dir == loaded.out_dir


def test_progress_is_reported(app):
    steps = []
    app.load_image(DEMO, progress=lambda f, text: steps.append((f, text)))
    assert steps[0][0] < steps[-1][0] == 1.0
    assert any('features' in text for _, text in steps)


def test_parse_box(webui):
    assert webui.parse_box(' 1,2 3 ; 4 ') == (1.0, 2.0, 3.0, 4.0)
    assert webui.parse_box('(1.5, 2, 3, 4)') == (1.5, 2.0, 3.0, 4.0)
    with pytest.raises(webui.UserInputError):
        webui.parse_box('1, 2, nan, 4')


def test_page_builds(webui, app):
    try:
        import gradio as gr
    except ImportError as e:
        pytest.fail(f'demo/webui.py needs gradio ({e}): pip install -r '
                    'requirements/demo.txt')
    page = webui.build_page(app)
    assert isinstance(page, gr.Blocks)
    ids = {
        block.elem_id
        for block in page.blocks.values() if getattr(block, 'elem_id', None)
    }
    assert ids >= {
        'upload', 'level', 'overlay', 'drill-down', 'selection', 'hierarchy',
        'drill-image', 'drill-result', 'brush', 'mask-upload', 'box',
        'prompt-decoder', 'snap', 'clip', 'export', 'downloads', 'status'
    }


def test_page_refuses_a_model_without_drill_down(webui, cropformer_checkpoint):
    """CropFormer (and the entity framework) take no prompt: the page says
    so when it is built, not at the first image."""
    from mmaims.apis import AIMSInferencer
    config = osp.join(REPO, 'configs', 'cropformer',
                      'cropformer_r18_synthetic.py')
    inferencer = AIMSInferencer(
        config, cropformer_checkpoint, device='cpu', show_progress=False)
    with pytest.raises(ValueError, match='page needs an AIMS model'):
        webui.DrillDownApp(inferencer)
