# Copyright (c) mmaims contributors. All rights reserved.
"""A test-only hook: records which samples each training iteration saw, and
can kill the run after a given iteration to simulate an interruption."""
import json
import os
import os.path as osp
from typing import Optional

from mmengine.dist import get_rank
from mmengine.hooks import Hook

from mmaims.registry import HOOKS


@HOOKS.register_module(force=True)
class RecordSamplesHook(Hook):
    """Append ``{iter, rank, samples: [[img_id, sample_type], ...],
    stream: [sample_index, ...]}`` per training iteration to
    ``work_dir/samples.jsonl`` (``stream``: the sampler's indices the
    samples answer; ``img_id`` is the image served, another one when the
    pipeline rejected the drawn image after its random augmentation).

    Args:
        kill_after (int, optional): After this many iterations (and after
            the CheckpointHook of that iteration: this hook has the lowest
            priority) the process exits at once with status 3, like a
            killed job. Only when the work dir has no ``killed`` marker, so
            the resumed run goes on.
    """
    priority = 'LOWEST'

    def __init__(self, kill_after: Optional[int] = None) -> None:
        self.kill_after = kill_after

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        samples = [[s.metainfo['img_id'], s.metainfo['task']['sample_type']]
                   for s in data_batch['data_samples']]
        stream = [
            s.metainfo['sample_index'] for s in data_batch['data_samples']
        ]
        line = json.dumps(dict(iter=batch_idx, rank=get_rank(),
                               samples=samples, stream=stream))
        with open(osp.join(runner.work_dir, 'samples.jsonl'), 'a') as f:
            f.write(line + '\n')
        marker = osp.join(runner.work_dir, 'killed')
        if self.kill_after is not None and batch_idx + 1 == \
                self.kill_after and not osp.exists(marker):
            open(marker, 'w').close()
            # a killed job loses its whole process group: stop the
            # dataloader workers too, or they outlive the test
            iterator = getattr(runner.train_loop.dataloader_iterator,
                               '_iterator', None)
            if hasattr(iterator, '_shutdown_workers'):
                iterator._shutdown_workers()
            os._exit(3)
