# Copyright (c) mmaims contributors. All rights reserved.
from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import LoggerHook

from mmaims.registry import HOOKS


@HOOKS.register_module()
class AIMSLoggerHook(LoggerHook):
    """mmengine's :class:`LoggerHook` whose test metrics file is written by
    the main process only.

    ``LoggerHook.after_test_epoch`` dumps ``WORK_DIR/TIMESTAMP/
    TIMESTAMP.json`` on every rank; under ``tools/dist_test.sh`` the ranks
    then write the same file at once and can leave it corrupt (one record
    followed by the tail of a longer one), which the ablation table and
    study tools cannot read. Here the other ranks skip the write; the
    metrics are the same on every rank (mmengine broadcasts them).
    """

    def after_test_epoch(self,
                         runner,
                         metrics: Optional[Dict[str, float]] = None) -> None:
        if is_main_process():
            super().after_test_epoch(runner, metrics)
