# Copyright (c) mmaims contributors. All rights reserved.
"""FederatedMetric in two real gloo processes (mmengine collect_results)."""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest

from mmaims.evaluation import FederatedMetric

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(osp.dirname(HERE)))

SCRIPT = '''
import json, os, sys
import torch.distributed as dist
sys.path.insert(0, {conftest_dir!r})
from conftest import samples_from_predictions
from mmaims.evaluation import FederatedMetric
dist.init_process_group('gloo')
rank, world = dist.get_rank(), dist.get_world_size()
gt = json.load(open({gt!r}))
preds = json.load(open({pred!r}))
samples = samples_from_predictions(gt, preds)
metric = FederatedMetric({gt!r})
# DefaultSampler's split: rank r gets samples r, r + world, ...
metric.process({{}}, [s.to_dict() for s in samples[rank::world]])
metrics = metric.evaluate(len(samples))
json.dump(metrics, open({out!r} + str(rank), 'w'))
dist.destroy_process_group()
'''


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_gloo_ranks_equal_one_process(tmp_path, make_dataset, make_samples,
                                          dump_json):
    gt, preds = make_dataset(31, num_images=7)
    gt_file = dump_json(tmp_path / 'gt.json', gt)
    pred_file = dump_json(tmp_path / 'pred.json', preds)
    out = str(tmp_path / 'metrics')
    script = SCRIPT.format(
        conftest_dir=osp.dirname(HERE), gt=gt_file, pred=pred_file, out=out)
    port = str(_free_port())
    procs = []
    for rank in range(2):
        env = dict(
            os.environ,
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE='2',
            MASTER_ADDR='127.0.0.1',
            MASTER_PORT=port,
            CUDA_VISIBLE_DEVICES='',
            PYTHONPATH=os.pathsep.join(
                [REPO, os.environ.get('PYTHONPATH', '')]))
        procs.append(
            subprocess.Popen([sys.executable, '-c', script],
                             env=env,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE,
                             text=True))
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err

    metric = FederatedMetric(gt_file)
    metric.process({}, [s.to_dict() for s in make_samples(gt, preds)])
    expected = metric.evaluate(len(gt['images']))
    for rank in range(2):
        with open(out + str(rank)) as f:
            assert json.load(f) == expected
