# Copyright (c) mmaims contributors. All rights reserved.
"""The entity framework (paper 002) wired end to end on the synthetic data:
configs/entity/entity-condinst_r18_synthetic.py and its CondInst baseline
train a few iterations and predict non-overlapping entities that
FederatedMetric scores."""
import os.path as osp

import numpy as np
import pytest
import torch

from mmaims.registry import METRICS
from mmaims.utils import register_all_modules

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CONFIGS = osp.join(REPO, 'configs', 'entity')

register_all_modules()


@pytest.mark.parametrize('name, bank', [
    ('entity-condinst_r18_synthetic.py', True),
    ('condinst_r18_synthetic.py', False),
])
def test_entity_framework_trains_and_predicts(tiny_synthetic_cfg, name, bank):
    from mmengine.runner import Runner
    cfg = tiny_synthetic_cfg(osp.join(CONFIGS, name), max_iters=3)
    runner = Runner.from_cfg(cfg)
    runner.train()
    logged = set(runner.message_hub.log_scalars)
    expected = {
        'train/loss_cls', 'train/loss_bbox', 'train/loss_centerness',
        'train/loss_mask'
    }
    bank_keys = {f'train/loss_mask_path{r}'
                 for r in range(1, 7)} | {'train/loss_overlap'}
    assert expected <= logged
    assert (bank_keys <= logged) == bank and not (bank_keys & logged
                                                  and not bank)
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert np.isfinite(loss) and loss > 0

    model = runner.model.eval()
    batch = next(iter(runner.test_dataloader))
    # a score threshold of 0 so that the untrained model keeps detections
    model.bbox_head.test_cfg.score_thr = 0.0
    with torch.no_grad():
        samples = model.test_step(batch)
    for sample in samples:
        inst = sample.pred_instances
        assert tuple(inst.masks.shape[1:]) == tuple(sample.ori_shape[:2])
        assert len(inst) <= cfg.model.test_cfg.max_per_img
        assert (inst.scores[:-1] >= inst.scores[1:]).all()
        assert inst.masks.sum(0).max() <= 1  # the entity id map
        assert (inst.labels == 0).all()
    metric = METRICS.build(cfg.test_evaluator)
    metric.process(batch, samples)
    metrics = metric.evaluate(len(samples))
    for key in ('aims/entity_mAP', 'aims/entity_mAP_nonoverlap',
                'aims/entity_mAP_nonoverlap_50'):
        assert -1 <= metrics[key] <= 1
