# Copyright (c) mmaims contributors. All rights reserved.
"""AIMSLoggerHook: the test metrics file is written by the main process
only (mmengine's LoggerHook writes it on every rank, and two ranks writing
one file at once can leave it corrupt)."""
import os.path as osp

from mmengine.config import Config
from mmengine.hooks import LoggerHook

import mmaims.engine.hooks.aims_logger_hook as module
from mmaims.engine.hooks import AIMSLoggerHook

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_only_the_main_process_writes_test_metrics(monkeypatch):
    calls = []
    monkeypatch.setattr(LoggerHook, 'after_test_epoch',
                        lambda self, runner, metrics=None: calls.append(
                            metrics))
    hook = AIMSLoggerHook()
    monkeypatch.setattr(module, 'is_main_process', lambda: False)
    hook.after_test_epoch(None, dict(a=1.0))
    assert calls == []
    monkeypatch.setattr(module, 'is_main_process', lambda: True)
    hook.after_test_epoch(None, dict(a=1.0))
    assert calls == [dict(a=1.0)]


def test_runtime_and_main_job_configs_use_it():
    for name in ('_base_/default_runtime.py', 'aims/aims_r18_synthetic.py',
                 'aims/aims_r18_synthetic_baseline.py',
                 'aims/study/aims_r18_table1.py'):
        cfg = Config.fromfile(osp.join(REPO, 'configs', name))
        assert cfg.default_hooks.logger.type == 'AIMSLoggerHook', name
