# Copyright (c) mmaims contributors. All rights reserved.
"""TrainSetupCheckHook: a run without initial weights stops at start with
what to set; a configuration that leaves the association module without
targets is warned about."""
import logging
from types import SimpleNamespace

import numpy as np
import pytest
from mmengine.dataset import Compose
from mmengine.logging import MMLogger

from mmaims.datasets.transforms import SampleTaskPrompt
from mmaims.engine.hooks import TrainSetupCheckHook
from mmaims.engine.hooks.train_setup_check_hook import (
    association_target_problems, initial_weights)
from mmaims.models.dense_heads.association_head import DEFAULT_PAIRS

PRETRAINED = dict(type='Pretrained', checkpoint='/tmp/resnet50.pth')


def _model(backbone_init=None, from_scratch=False, association=True):
    return SimpleNamespace(
        from_scratch=from_scratch,
        init_cfg=None,
        backbone=SimpleNamespace(init_cfg=backbone_init),
        association_head=SimpleNamespace(
            pairs=DEFAULT_PAIRS) if association else None)


class _Dataset:
    """What the hook reads of an AIMSTaskDataset: pools, data infos and
    the pipeline."""

    def __init__(self, levels_per_source, sample_types, all_levels=True):
        self.infos = []
        self.pools = {t: {} for t in sample_types}
        for source, levels in levels_per_source.items():
            self.infos.append(dict(levels=list(levels)))
            for t in sample_types:
                self.pools[t][source] = np.array([len(self.infos) - 1])
        self.pipeline = Compose(
            [SampleTaskPrompt(supervise_all_levels=all_levels)])

    def get_data_info(self, index):
        return self.infos[index]


PPP_PSG = dict(ppp=('part', 'entity'), psg=('entity', 'relation'))


def _runner(model, dataset=None, load_from=None, resume=False):
    return SimpleNamespace(
        model=model,
        _load_from=load_from,
        _resume=resume,
        train_dataloader=SimpleNamespace(dataset=dataset))


def test_initial_weights_sources():
    assert initial_weights(_model(), None, False) is None
    assert 'backbone' in initial_weights(_model(PRETRAINED), None, False)
    assert 'load_from' in initial_weights(_model(), 'coco_entity.pth', False)
    assert 'resumed' in initial_weights(_model(), None, True)
    assert 'from_scratch' in initial_weights(
        _model(from_scratch=True), None, False)
    # mmdet's ResNet fills in its own random init_cfg: not weights
    kaiming = [dict(type='Kaiming', layer='Conv2d')]
    assert initial_weights(_model(kaiming), None, False) is None


def test_run_without_weights_stops_with_what_to_set():
    hook = TrainSetupCheckHook()
    with pytest.raises(RuntimeError) as e:
        hook.before_train(_runner(_model()))
    message = str(e.value)
    for what in ('model.backbone.init_cfg', 'load_from',
                 'model.from_scratch=True', 'mask2former_to_aims.py'):
        assert what in message
    # each of the three ways passes
    hook.before_train(_runner(_model(PRETRAINED), _Dataset(PPP_PSG, [1])))
    hook.before_train(_runner(_model(), load_from='x.pth'))
    hook.before_train(_runner(_model(from_scratch=True)))


def test_other_models_are_not_checked():
    TrainSetupCheckHook().before_train(
        _runner(SimpleNamespace(backbone=SimpleNamespace(init_cfg=None))))


@pytest.mark.parametrize(
    'sample_types,all_levels,missing',
    [
        ((1, 2, 3, 4, 5, 6, 7, 8), True, []),
        # Table 5 read literally: one supervised decoder per sample
        ((1, 2, 3, 4, 5, 6, 7, 8), False, ['entity_part', 'relation_entity']),
        # one-entity and two-entity prompts supervise one decoder each
        ((7, 8), True, ['entity_part', 'relation_entity']),
        # full-image types on PPP and PSG images train both pairs
        ((1, 2, 3), True, []),
    ])
def test_association_target_problems(sample_types, all_levels, missing):
    dataset = _Dataset(PPP_PSG, sample_types, all_levels)
    problems = association_target_problems(DEFAULT_PAIRS, dataset)
    assert [p.split('"')[1] for p in problems] == missing
    for problem in problems:
        assert 'association_head=None' in problem
        assert f'supervise_all_levels={all_levels}' in problem


def test_association_needs_images_with_both_levels():
    # only entity-level sources (COCO, EntitySeg): no pair is trainable
    dataset = _Dataset(dict(coco=('entity', )), (1, 4))
    assert len(association_target_problems(DEFAULT_PAIRS, dataset)) == 2
    # not an AIMSTaskDataset: nothing to say
    assert association_target_problems(DEFAULT_PAIRS, object()) == []


def test_warning_is_logged_at_start():
    # the hook logs to mmengine's current logger (a new instance would stay
    # current after the test, with a handler on a closed capture stream)
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        TrainSetupCheckHook().before_train(
            _runner(
                _model(from_scratch=True),
                _Dataset(PPP_PSG, (1, 2, 3), all_levels=False)))
        TrainSetupCheckHook().before_train(
            _runner(
                _model(from_scratch=True, association=False),
                _Dataset(PPP_PSG, (1, 2, 3), all_levels=False)))
    finally:
        logger.removeHandler(handler)
    warnings = [r for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert 'no targets for "entity_part"' in warnings[0].getMessage()
