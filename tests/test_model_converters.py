# Copyright (c) mmaims contributors. All rights reserved.
"""tools/model_converters/mask2former_to_aims.py: a real mmdet Mask2Former
(built like the tiny AIMS) converted into AIMS ``load_from`` weights."""
import importlib.util
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config, ConfigDict

from mmaims.registry import MODELS
from mmaims.utils import load_checkpoint_weights_only, register_all_modules

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CONFIG = osp.join(REPO, 'tests', 'data', 'configs', 'aims_tiny.py')
TOOL = osp.join(REPO, 'tools', 'model_converters', 'mask2former_to_aims.py')


def _load_tool(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mask2former_checkpoint(tmp_path, num_classes=1):
    """A mmdet Mask2Former with the tiny AIMS's backbone, pixel decoder and
    decoder, saved as a runner would save it."""
    register_all_modules()
    benchmark = _load_tool(
        osp.join(REPO, 'tools', 'analysis_tools', 'benchmark.py'),
        'aims_benchmark')
    cfg = benchmark.build_mask2former_cfg(
        Config.fromfile(TINY_CONFIG).model)
    cfg['panoptic_head']['num_things_classes'] = num_classes
    cfg['panoptic_head']['loss_cls']['class_weight'] = \
        [1.0] * num_classes + [0.1]
    cfg['panoptic_fusion_head']['num_things_classes'] = num_classes
    torch.manual_seed(5)
    m2f = MODELS.build(ConfigDict(cfg))
    m2f.init_weights()
    path = str(tmp_path / f'm2f_{num_classes}.pth')
    torch.save(dict(state_dict=m2f.state_dict(),
                    meta=dict(dataset_meta=dict(classes=('entity', )))),
               path)
    return m2f.state_dict(), path


def _convert(src, dst, *extra):
    out = subprocess.run(
        [sys.executable, TOOL, src, dst, '--config', TINY_CONFIG, *extra],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_converted_weights_load_into_aims(tmp_path):
    m2f_state, src = _mask2former_checkpoint(tmp_path)
    dst = str(tmp_path / 'out' / 'aims_init.pth')
    report = _convert(src, dst, '--decoders', 'entity', 'part')
    assert 'left out 0' in report
    # what the checkpoint cannot initialise is named in the report
    for group in ('decode_head.decoders.relation', 'decode_head.tcm_layers',
                  'prompt_encoder', 'association_head'):
        assert group in report

    register_all_modules()
    model = MODELS.build(Config.fromfile(TINY_CONFIG).model)
    state = load_checkpoint_weights_only(dst)['state_dict']
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected
    assert not any(k.startswith(('backbone.', 'pixel_decoder.',
                                 'decode_head.decoders.entity.',
                                 'decode_head.decoders.part.'))
                   for k in missing)
    ours = model.state_dict()
    for key, value in m2f_state.items():
        if key.startswith('panoptic_head.pixel_decoder.'):
            targets = ['pixel_decoder.' + key[len('panoptic_head.'
                                                  'pixel_decoder.'):]]
        elif key.startswith('panoptic_head.'):
            rest = key[len('panoptic_head.'):]
            targets = [f'decode_head.decoders.{d}.{rest}'
                       for d in ('entity', 'part')]
        else:
            targets = [key]
        for target in targets:
            assert torch.equal(ours[target], value), target
    # the relation decoder keeps its own initialisation
    assert not torch.equal(
        ours['decode_head.decoders.relation.query_feat.weight'],
        m2f_state['panoptic_head.query_feat.weight'])


def test_mismatched_tensors_are_left_out_and_reported(tmp_path):
    # a 3-class model: cls_embed has 4 outputs, AIMS has 2
    _, src = _mask2former_checkpoint(tmp_path, num_classes=3)
    dst = str(tmp_path / 'aims_init.pth')
    report = _convert(src, dst)
    # by default all three decoders receive the weights (the paper
    # initialises the whole model): cls_embed weight + bias of each is out
    assert 'left out 6' in report
    assert ('left out (shape (4, 32) in the checkpoint, (2, 32) in the '
            'model): decode_head.decoders.entity.cls_embed.weight') in report
    state = load_checkpoint_weights_only(dst)['state_dict']
    for decoder in ('part', 'entity', 'relation'):
        assert f'decode_head.decoders.{decoder}.cls_embed.weight' \
            not in state
        assert f'decode_head.decoders.{decoder}.query_feat.weight' in state


def test_not_a_mask2former_checkpoint_is_refused(tmp_path):
    tool = _load_tool(TOOL, 'mask2former_to_aims')
    state = {'backbone.conv1.weight': torch.zeros(1)}
    with pytest.raises(KeyError, match='no key starts with "panoptic_head."'):
        tool.convert(state, state, ['entity'])


def test_convert_mask2former_detector_state_dict():
    tool = _load_tool(TOOL, 'mask2former_to_aims')
    w = torch.zeros(1)
    state = {
        'backbone.conv1.weight': w,
        'panoptic_head.pixel_decoder.mask_feature.weight': w,
        'panoptic_head.query_feat.weight': w,
        'panoptic_head.transformer_decoder.layers.0.ffn.layers.1.weight': w,
        'panoptic_head.cls_embed.weight': w,
    }
    converted = tool.convert_mask2former_state_dict(
        state, decoder='entity', dst_prefix='decode_head.')
    assert list(converted) == [
        'backbone.conv1.weight', 'pixel_decoder.mask_feature.weight',
        'decode_head.decoders.entity.query_feat.weight',
        'decode_head.decoders.entity.transformer_decoder.layers.0.ffn.'
        'layers.1.weight', 'decode_head.decoders.entity.cls_embed.weight'
    ]
    dropped = tool.convert_mask2former_state_dict(
        state, decoder='part', drop_cls_embed=True)
    assert 'decode_head.decoders.part.query_feat.weight' in dropped
    assert not any('cls_embed' in k for k in dropped)
    with pytest.raises(ValueError, match='unknown level'):
        tool.convert_mask2former_state_dict(
            state, decoder='thing')
