# Copyright (c) mmaims contributors. All rights reserved.
"""ONNX export of the tiny AIMS (tests/data/configs/aims_tiny.py): the
graphs against the model's own code at two input sizes, the ONNX Runtime
runner against :class:`AIMSImageSession`, the export CLI and the
benchmark's ``--onnx`` ratio."""
import copy
import importlib.util
import json
import logging
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger

from mmaims.deployment import (IMAGE_ENCODER_FILE, META_FILE, ONE_STEP_FILE,
                               PromptDecoderForExport, export_onnx,
                               load_for_export, preprocess_meta, prompt_file)
from mmaims.structures import decode_rle, validate_predictions

TESTS = osp.dirname(osp.dirname(osp.abspath(__file__)))
REPO = osp.dirname(TESTS)
TINY_CONFIG = osp.join(TESTS, 'data', 'configs', 'aims_tiny.py')
GOOD = osp.join(TESTS, 'data', 'inference', 'images', 'good.png')
RUNNER = osp.join(REPO, 'tools', 'deployment', 'ort_runner.py')
#: tolerance of the logits and scores (issue 16)
ATOL = 1e-3


def load_runner_module():
    spec = importlib.util.spec_from_file_location('ort_runner', RUNNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def exported(tiny_checkpoint, tmp_path_factory):
    """The tiny model (weights of ``tiny_checkpoint``, as the inferencer
    fixture) exported from a 64 x 64 trace."""
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    model, cfg = load_for_export(TINY_CONFIG, tiny_checkpoint)
    out = str(tmp_path_factory.mktemp('onnx'))
    meta = export_onnx(model, cfg, out, image_size=(64, 64))
    return model, out, meta


@pytest.fixture(scope='module')
def runner(exported):
    return load_runner_module().AIMSOnnxRunner(exported[1])


@pytest.fixture(scope='module')
def wide_image(tmp_path_factory):
    """A 30 x 100 image: resized to 19 x 64 and padded to 32 x 64, another
    network input size than good.png's (48 x 64 padded to 64 x 64)."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (30, 100, 3), dtype=np.uint8)
    img[5:25, 10:60] = (200, 40, 40)
    path = str(tmp_path_factory.mktemp('images') / 'wide.png')
    cv2.imwrite(path, img)
    return path


def ort_session(out, file):
    return ort.InferenceSession(
        osp.join(out, file), providers=['CPUExecutionProvider'])


def model_decoder_pass(model, feats, prompt, decoders, with_assoc):
    """What ``AIMS._predict_with_prompts`` computes before the
    post-processing, with the model's own ``add_prompt``."""
    mask_features, memorys = model.add_prompt((feats[0], list(feats[1:])),
                                              prompt)
    kwargs = {} if decoders is None else dict(decoders=decoders)
    outputs = model.decode_head.predict(mask_features, memorys, None, **kwargs)
    assoc = model.association_head({
        d: o.query_feats
        for d, o in outputs.items()
    }) if with_assoc else {}
    return outputs, assoc


@pytest.mark.parametrize('size', [(64, 64), (96, 128)])
def test_graphs_match_the_model(exported, size):
    """Both graphs against ``extract_feat`` and the model's decoder pass
    (its own ``add_prompt``, head and association module), at the traced
    size and another one (dynamic height and width)."""
    model, out, meta = exported
    torch.manual_seed(1)
    image = torch.randn(1, 3, *size)
    h, w = size
    prompt = torch.zeros(1, 1, h, w)
    prompt[..., h // 8:h // 2, w // 4:w - 4] = 1
    with torch.no_grad():
        mask_features, memorys = model.extract_feat(image)
    feats = [mask_features] + memorys
    got = ort_session(out, IMAGE_ENCODER_FILE).run(None,
                                                   {'image': image.numpy()})
    assert [g.shape for g in got] == [tuple(f.shape) for f in feats]
    for g, f in zip(got, feats):
        assert np.abs(g - f.numpy()).max() <= ATOL

    # the decoder passes on the ONNX features, as the runner feeds them
    feed = dict(zip(meta['decoder_inputs'], got + [prompt.numpy()]))
    specs = [(meta['one_step'], None, True)] + [
        (spec, tuple(spec['runs']), False) for spec in meta['prompt'].values()
    ]
    for spec, runs, with_assoc in specs:
        session = ort_session(out, spec['file'])
        outputs = dict(
            zip([o.name for o in session.get_outputs()],
                session.run(None, feed)))
        with torch.no_grad():
            expected, assoc = model_decoder_pass(
                model, [torch.from_numpy(g) for g in got], prompt, runs,
                with_assoc)
        for decoder, names in spec['outputs'].items():
            cls = outputs[names['cls']]
            mask = outputs[names['mask']]
            assert mask.shape[-2:] == (h // 4, w // 4)
            assert np.abs(
                cls - expected[decoder].cls_scores[-1].numpy()).max() <= ATOL
            assert np.abs(
                mask - expected[decoder].mask_preds[-1].numpy()).max() <= ATOL
        for link in spec.get('links', []):
            key = link['type'].replace('-', '_')
            assert np.abs(outputs[link['output']] -
                          assoc[key].numpy()).max() <= ATOL
    assert len(meta['one_step']['links']) == 2


def test_export_wrapper_equals_the_model_in_pytorch(exported):
    """The one rewritten step (the prompt added at traced sizes) gives the
    model's ``add_prompt`` sums to float rounding, and the decoder outputs
    follow."""
    model = exported[0]
    torch.manual_seed(2)
    with torch.no_grad():
        mask_features, memorys = model.extract_feat(torch.randn(1, 3, 64, 96))
        prompt = torch.zeros(1, 1, 64, 96)
        prompt[..., 10:40, 20:70] = 1
        wrapper = PromptDecoderForExport(model, outputs=('part', ))
        ours = wrapper.add_prompt(mask_features, memorys, prompt)
        theirs = model.add_prompt((mask_features, memorys), prompt)
        assert torch.equal(ours[0], theirs[0])
        for a, b in zip(ours[1], theirs[1]):
            assert torch.allclose(a, b, rtol=0, atol=1e-6)
        cls, mask = wrapper(mask_features, *memorys, prompt)
        outputs = model.decode_head.predict(theirs[0], theirs[1])
    assert torch.allclose(cls, outputs['part'].cls_scores[-1], atol=1e-5)
    assert torch.allclose(mask, outputs['part'].mask_preds[-1], atol=1e-5)


def assert_same_prediction(ours, ref):
    """The same kept masks (identical RLE, same level, id and order) with
    scores within ATOL, and the same links."""
    assert (ours['height'], ours['width']) == (ref['height'], ref['width'])
    assert [(m['id'], m['level']) for m in ours['masks']
            ] == [(m['id'], m['level']) for m in ref['masks']]
    for a, b in zip(ours['masks'], ref['masks']):
        assert a['segmentation'] == b['segmentation'], (a['id'], a['level'])
        assert abs(a['score'] - b['score']) <= ATOL
    links = {
        (k['type'], k['parent_id'], k['child_id']): k['score']
        for k in ours['links']
    }
    ref_links = {
        (k['type'], k['parent_id'], k['child_id']): k['score']
        for k in ref['links']
    }
    assert links.keys() == ref_links.keys()
    for key, score in links.items():
        assert abs(score - ref_links[key]) <= ATOL
    assert ours.get('prompt') == ref.get('prompt')


@pytest.mark.parametrize('image', ['good', 'wide'])
def test_runner_one_step_equals_the_session(runner, inferencer, wide_image,
                                            image):
    path = GOOD if image == 'good' else wide_image
    ours = runner.predict(path)
    ref = inferencer.session(path).predict()
    assert {m['level'] for m in ref['masks']} == {'part', 'entity', 'relation'}
    assert ref['links']
    assert_same_prediction(ours, ref)
    validate_predictions(
        ours,
        gt=dict(
            images=[dict(id=0, height=ours['height'], width=ours['width'])]),
        file_name='runner output')


@pytest.mark.parametrize('image', ['good', 'wide'])
def test_runner_drill_down_equals_the_session(runner, inferencer, wide_image,
                                              image):
    """The prompts of every decoder: the one-step entities (as their RLE
    decodes), a box, a mask of another size."""
    path = GOOD if image == 'good' else wide_image
    session = inferencer.session(path)
    feats = runner.encode(path)
    h, w = session.shape
    entities = [
        decode_rle(m['segmentation']) for m in session.predict()['masks']
        if m['level'] == 'entity'
    ][:2]
    box = np.zeros((h, w), bool)
    box[h // 4:h - h // 5, w // 6:w // 2 + 3] = True
    prompts = entities + [box]
    checked = 0
    for decoder in ('part', 'entity', 'relation'):
        for prompt in prompts:
            [ref] = session.prompt(prompt, decoder=decoder)
            ours = runner.prompt(feats, prompt, decoder)
            assert_same_prediction(ours, ref)
            checked += len(ref['masks'])
    assert checked > 0


def test_runner_clip_per_call_equals_the_session(runner, inferencer):
    """``clip=`` per prompt: the session's result with the same clip."""
    session = inferencer.session(GOOD)
    feats = runner.encode(GOOD)
    box = np.zeros(session.shape, bool)
    box[6:36, 5:44] = True
    plain = runner.prompt(feats, box, 'part')
    for clip in ('margin', 'entities', 'none', 'inside'):
        ours = runner.prompt(feats, box, 'part', clip=clip)
        assert_same_prediction(ours, session.prompt(box, clip=clip)[0])
        if clip != 'inside':
            assert ours['masks'] != plain['masks'], clip
    with pytest.raises(ValueError, match='unknown prompt_clip'):
        runner.prompt(feats, box, 'part', clip='soft')
    assert runner.prompt(feats, box, 'part') == plain  # nothing sticks


def test_runner_auto_clip_equals_the_session(runner, inferencer, monkeypatch):
    """``clip='auto'``: an exact mask is cut at it (``hard``), a drawn
    one (``rough=True``) as the export says (here ``margin``), as the
    session's ``clip='auto'`` with the same config value."""
    session = inferencer.session(GOOD)
    feats = runner.encode(GOOD)
    box = np.zeros(session.shape, bool)
    box[6:36, 5:44] = True
    monkeypatch.setitem(runner.post, 'prompt_clip', 'margin')
    monkeypatch.setitem(inferencer.model.post_processor.test_cfg,
                        'prompt_clip', 'margin')
    hard = runner.prompt(feats, box, 'part', clip='hard')
    margin = runner.prompt(feats, box, 'part', clip='margin')
    assert hard['masks'] != margin['masks']
    for rough, expected in ((False, hard), (True, margin)):
        ours = runner.prompt(feats, box, 'part', clip='auto', rough=rough)
        assert ours['masks'] == expected['masks']
        assert ours['prompt'].get('rough', False) is rough
        assert_same_prediction(
            ours,
            session.prompt(box, clip='auto', rough=rough)[0])


def test_runner_snaps_prompts_as_the_session(runner, inferencer):
    """``snap=True``: one-entity / two-entity prompts are snapped to the
    one-step mask the session snaps them to (one one-step pass per encoded
    image); entity-decoder prompts are not snapped; the export's
    ``prompt_snap`` (False here) is the default."""
    assert runner.prompt_snap is False
    session = inferencer.session(GOOD)
    feats = runner.encode(GOOD)
    h, w = session.shape
    box = np.zeros((h, w), bool)
    box[h // 5:h - h // 4, w // 5:w // 2 + 4] = True
    calls = []
    predict = runner.predict

    def counting_predict(*args, **kwargs):
        calls.append(1)
        return predict(*args, **kwargs)

    runner.predict = counting_predict
    try:
        for decoder in ('part', 'relation', 'entity'):
            [ref] = session.prompt(box, decoder=decoder, snap=True)
            ours = runner.prompt(feats, box, decoder, snap=True)
            assert_same_prediction(ours, ref)
            [plain] = session.prompt(box, decoder=decoder, snap=False)
            if decoder != 'entity':
                assert ref['masks'] != plain['masks']
            else:
                assert ref['masks'] == plain['masks']
        assert_same_prediction(
            runner.prompt(feats, box, 'part'),
            session.prompt(box, snap=False)[0])
    finally:
        del runner.predict
    assert len(calls) == 1


@pytest.mark.parametrize('test_cfg', [
    dict(prompt_clip='inside', nonoverlap=True),
    dict(prompt_clip='margin', prompt_clip_margin=2),
    dict(prompt_clip='none', max_per_image=3, score_thr=0.2),
    dict(
        nonoverlap=dict(part=True),
        max_links_per_image=4,
        link_score_thr=0.05,
        link_with_mask_scores=False),
])
def test_runner_follows_the_post_processing_options(exported, inferencer,
                                                    test_cfg):
    """The runner's post-processing options come from the export's
    ``test_cfg``; other values give the session's results too."""
    model = inferencer.model
    post = model.post_processor
    saved = post.test_cfg
    post.test_cfg = dict(saved, **test_cfg)
    try:
        runner = load_runner_module().AIMSOnnxRunner(exported[1])
        runner.post = post.resolved_test_cfg(('part', 'entity', 'relation'))
        runner.post['inside_fraction'] = 0.5
        session = inferencer.session(GOOD)
        ref = session.predict()
        assert_same_prediction(runner.predict(GOOD), ref)
        box = np.zeros(session.shape, bool)
        box[10:40, 8:50] = True
        [ref_prompt] = session.prompt(box, decoder='part')
        assert_same_prediction(runner.prompt(GOOD, box, 'part'), ref_prompt)
    finally:
        post.test_cfg = saved


def test_runner_overlap_links_without_association(tiny_checkpoint, tmp_path):
    """AM off: links from mask overlap, recomputed by the runner."""
    from mmaims.apis import AIMSInferencer
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.model.association_head = None
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    # the checkpoint's association weights are left unused (not strict)
    inferencer = AIMSInferencer(
        copy.deepcopy(cfg), tiny_checkpoint, device='cpu', show_progress=False)
    meta = export_onnx(
        inferencer.model,
        cfg,
        str(tmp_path),
        image_size=(64, 64),
        prompt_decoders=['part'],
        verify=False)
    assert all(link['output'] is None for link in meta['one_step']['links'])
    runner = load_runner_module().AIMSOnnxRunner(str(tmp_path))
    ref = inferencer.session(GOOD).predict()
    assert ref['links']
    assert_same_prediction(runner.predict(GOOD), ref)


def test_runner_with_mask_upsampler(tiny_checkpoint, tmp_path):
    """Mask features at 1/2 of the input (``mask_upsampler``): the image
    graph includes the upsampler and the runner's masks equal the
    session's, one-step and prompted."""
    from mmaims.apis import AIMSInferencer
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.model.mask_upsampler = dict(
        type='ImageGuidedMaskUpsampler', hidden_channels=8)
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    # the upsampler keeps its initial weights (not in the checkpoint)
    torch.manual_seed(0)
    inferencer = AIMSInferencer(
        copy.deepcopy(cfg), tiny_checkpoint, device='cpu', show_progress=False)
    export_onnx(
        inferencer.model,
        cfg,
        str(tmp_path),
        image_size=(64, 64),
        prompt_decoders=['part'])
    runner = load_runner_module().AIMSOnnxRunner(str(tmp_path))
    session = inferencer.session(GOOD)
    assert_same_prediction(runner.predict(GOOD), session.predict())
    box = np.zeros(session.shape, bool)
    box[10:40, 8:50] = True
    [ref] = session.prompt(box, decoder='part')
    assert_same_prediction(runner.prompt(GOOD, box, 'part'), ref)


def test_runner_constants_are_the_models():
    """The runner keeps copies (it imports no mmaims): they must not
    drift from their owners."""
    from mmaims.models.seg_heads.aims_post_processor import PROMPT_CLIP_MODES
    from mmaims.structures.drill_down import DRILL_DOWN_PROMPT_LEVELS
    runner = load_runner_module()
    assert runner.PROMPT_CLIP_MODES == PROMPT_CLIP_MODES
    assert runner.SNAP_LEVELS == dict(DRILL_DOWN_PROMPT_LEVELS)


def test_runner_needs_no_torch(exported, tmp_path):
    """The runner runs with onnxruntime, numpy, OpenCV and pycocotools
    only: no torch, mmcv, mmdet, mmengine or mmaims is imported."""
    code = ('import importlib.util, json, sys\n'
            f'spec = importlib.util.spec_from_file_location("r", {RUNNER!r})\n'
            'm = importlib.util.module_from_spec(spec)\n'
            'spec.loader.exec_module(m)\n'
            f'runner = m.AIMSOnnxRunner({exported[1]!r})\n'
            f'pred = runner.predict({GOOD!r})\n'
            'from pycocotools import mask as mask_util\n'
            'mask = mask_util.decode(pred["masks"][0]["segmentation"])\n'
            'runner.prompt(' + repr(GOOD) + ', mask, "part")\n'
            'bad = sorted(n for n in sys.modules if n.split(".")[0] in\n'
            '             ("torch", "mmcv", "mmdet", "mmengine", "mmaims"))\n'
            'print(json.dumps(dict(bad=bad, masks=len(pred["masks"]))))\n')
    env = dict(os.environ, PYTHONPATH='')
    proc = subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True,
                          cwd=str(tmp_path),
                          env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report['bad'] == [] and report['masks'] > 0


def run(cmd):
    env = dict(os.environ, PYTHONPATH=REPO, CUDA_VISIBLE_DEVICES='')
    proc = subprocess.run(
        cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_export_and_runner_cli(tiny_checkpoint, tmp_path):
    out = str(tmp_path / 'onnx')
    stdout = run([
        sys.executable, 'tools/deployment/export_onnx.py', TINY_CONFIG,
        tiny_checkpoint, '--out', out, '--image-size', '64', '96',
        '--prompt-decoders', 'part'
    ])
    for name in (IMAGE_ENCODER_FILE, ONE_STEP_FILE, prompt_file('part'),
                 META_FILE):
        assert osp.isfile(osp.join(out, name)), name
    assert not osp.exists(osp.join(out, prompt_file('relation')))
    assert '64x96: largest |ONNX Runtime - PyTorch|' in stdout
    assert '96x96: largest |ONNX Runtime - PyTorch|' in stdout
    with open(osp.join(out, META_FILE)) as f:
        meta = json.load(f)
    worst = max(v for report in meta['verification'].values()
                for diffs in report.values() for v in diffs.values())
    assert worst <= ATOL

    pred_file = str(tmp_path / 'pred.json')
    stdout = run([
        sys.executable, RUNNER, out, GOOD, '--out', pred_file, '--threads', '1'
    ])
    assert 'links' in stdout
    with open(pred_file) as f:
        pred = json.load(f)
    validate_predictions(
        pred,
        gt=dict(images=[dict(id=0, height=48, width=64)]),
        file_name='runner output')
    prompt = str(tmp_path / 'prompt.png')
    mask = np.zeros((48, 64), np.uint8)
    mask[8:40, 10:50] = 255
    cv2.imwrite(prompt, mask)
    parts_file = str(tmp_path / 'parts.json')
    run([
        sys.executable, RUNNER, out, GOOD, '--prompt', prompt, '--decoder',
        'part', '--out', parts_file
    ])
    with open(parts_file) as f:
        parts = json.load(f)
    assert parts['prompt'] == dict(
        decoder='part', prompt_type='one_entity', level='part')
    assert {m['level'] for m in parts['masks']} <= {'part'}
    assert meta['prompt_snap'] is False
    # --snap: the same as the runner's API with snap=True
    snapped_file = str(tmp_path / 'snapped.json')
    run([
        sys.executable, RUNNER, out, GOOD, '--prompt', prompt, '--decoder',
        'part', '--snap', '--out', snapped_file
    ])
    with open(snapped_file) as f:
        snapped = json.load(f)
    runner = load_runner_module().AIMSOnnxRunner(out)
    assert snapped == json.loads(
        json.dumps(runner.prompt(GOOD, prompt, 'part', snap=True)))
    assert snapped['masks'] != parts['masks']


def test_benchmark_prints_the_onnx_ratio():
    stdout = run([
        sys.executable, 'tools/analysis_tools/benchmark.py', TINY_CONFIG,
        '--shape', '48', '64', '--repeat', '2', '--warmup', '1',
        '--num-prompts', '2', '--no-memory', '--device', 'cpu', '--onnx'
    ])
    row = [
        line for line in stdout.splitlines()
        if line.startswith('| prompt decoder, ONNX Runtime / PyTorch')
    ]
    assert len(row) == 1, stdout
    ratio = float(row[0].split('|')[2].strip().rstrip('x'))
    assert ratio > 0


def test_export_refusals(exported, tmp_path):
    model = exported[0]
    cfg = Config.fromfile(TINY_CONFIG)
    with pytest.raises(ValueError, match='GridSample'):
        export_onnx(model, cfg, str(tmp_path), image_size=(64, 64), opset=15)
    with pytest.raises(ValueError, match='multiples of the pad size'):
        export_onnx(model, cfg, str(tmp_path), image_size=(48, 64))
    with pytest.raises(ValueError, match='unknown prompt decoders'):
        export_onnx(
            model,
            cfg,
            str(tmp_path),
            image_size=(64, 64),
            prompt_decoders=['stuff'])
    flagged = copy.deepcopy(model)
    flagged.prompt_encoder.rough_embed = torch.nn.Parameter(
        torch.zeros(flagged.prompt_encoder.out_channels))
    with pytest.raises(NotImplementedError, match='rough-prompt flag'):
        export_onnx(flagged, cfg, str(tmp_path), image_size=(64, 64))
    flipped = copy.deepcopy(cfg)
    flipped.test_dataloader.dataset.pipeline.insert(
        -1, dict(type='RandomFlip', prob=1.0))
    with pytest.raises(ValueError, match='RandomFlip'):
        preprocess_meta(model, flipped)
    pre = preprocess_meta(model, cfg)
    assert pre['resize'] == dict(
        scale=[64, 64], keep_ratio=True, interpolation='bilinear')
    assert pre['pad_size_divisor'] == 32 and pre['bgr_to_rgb']
