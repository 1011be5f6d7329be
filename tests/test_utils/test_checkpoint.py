# Copyright (c) mmaims contributors. All rights reserved.
import itertools
import os
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint

from mmaims.utils import (UnsafeCheckpointError, load_checkpoint_weights_only,
                          register_safe_checkpoint_loader)


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels, mode='tensor'):
        inputs = torch.stack(inputs)
        labels = torch.stack(labels)
        outputs = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((outputs - labels)**2).mean())
        return outputs


class ToyDataset(torch.utils.data.Dataset):
    METAINFO = dict()
    data = torch.randn(12, 2)
    label = torch.ones(12, 1)

    def __len__(self):
        return self.data.size(0)

    def __getitem__(self, index):
        return dict(inputs=self.data[index], labels=self.label[index])


_RUNNER_IDS = itertools.count()


def build_runner(work_dir, max_iters, resume=False):
    return Runner(
        model=ToyModel(),
        work_dir=work_dir,
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='InfiniteSampler', shuffle=True),
            collate_fn=dict(type='pseudo_collate'),
            batch_size=3,
            num_workers=0),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=dict(
            type='MultiStepLR', milestones=[2], by_epoch=False),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook', interval=2, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0),
        resume=resume,
        default_scope='mmaims',
        # runners built within one second would share mmengine's
        # timestamped instance names
        experiment_name=f'toy_runner_{next(_RUNNER_IDS)}')


@pytest.fixture(autouse=True)
def safe_loader():
    register_safe_checkpoint_loader()


def test_runner_checkpoint_round_trips_with_resume_state(tmp_path):
    work_dir = str(tmp_path)
    runner = build_runner(work_dir, max_iters=4)
    runner.train()
    ckpt_path = osp.join(work_dir, 'iter_4.pth')
    assert osp.isfile(ckpt_path)
    saved = torch.load(ckpt_path, weights_only=False)
    # the real checkpoint holds numpy values and HistoryBuffer objects:
    # plain weights-only loading without the allow-list refuses it
    with pytest.raises(Exception):
        torch.load(ckpt_path, weights_only=True)

    ckpt = load_checkpoint_weights_only(ckpt_path)
    assert ckpt['meta']['iter'] == 4
    assert set(ckpt) >= {'meta', 'state_dict', 'optimizer', 'param_schedulers',
                         'message_hub'}
    torch.testing.assert_close(ckpt['state_dict']['linear.weight'],
                               saved['state_dict']['linear.weight'])

    # resume through the Runner: iteration, optimizer and scheduler restored
    resumed = build_runner(work_dir, max_iters=6, resume=True)
    resumed.train()
    assert resumed.iter == 6
    resumed_again = build_runner(work_dir, max_iters=6, resume=True)
    resumed_again.load_or_resume()
    assert resumed_again.iter == 6
    momentum = resumed_again.optim_wrapper.optimizer.state_dict()['state']
    assert len(momentum) == 2  # momentum buffers of weight and bias
    lr = resumed_again.optim_wrapper.get_lr()['lr'][0]
    assert lr == pytest.approx(0.01)  # decayed x0.1 at iteration 2


class _Payload:
    """Unpickling this calls ``os.system`` (it must never run)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def test_checkpoint_with_arbitrary_callable_is_refused(tmp_path):
    marker = tmp_path / 'executed'
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {'w': torch.ones(1)}, 'meta': _Payload(marker)},
               path)
    with pytest.raises(UnsafeCheckpointError) as excinfo:
        load_checkpoint_weights_only(path)
    message = str(excinfo.value)
    assert 'evil.pth' in message and 'system' in message
    assert not marker.exists()

    # the same refusal through mmengine's own API (load_from / resume path)
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(nn.Linear(1, 1), path)
    assert not marker.exists()


def test_plain_state_dict_loads_through_mmengine(tmp_path):
    model = nn.Linear(2, 2)
    path = str(tmp_path / 'weights.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    other = nn.Linear(2, 2)
    load_checkpoint(other, path)
    torch.testing.assert_close(other.weight, model.weight)


def test_safe_loader_is_an_explicit_call(monkeypatch):
    """Registering modules does not change how checkpoints are read;
    register_safe_checkpoint_loader does."""
    from mmengine.runner.checkpoint import CheckpointLoader

    from mmaims.utils import register_all_modules
    schemes = dict(CheckpointLoader._schemes)
    monkeypatch.setattr(CheckpointLoader, '_schemes', schemes)
    mmengine_local = object()
    schemes[''] = mmengine_local
    register_all_modules(init_default_scope=False)
    assert CheckpointLoader._schemes[''] is mmengine_local
    register_safe_checkpoint_loader()
    assert CheckpointLoader._schemes[''] is not mmengine_local


def _toy_checkpoint(path, iteration):
    torch.save({'state_dict': {'w': torch.ones(2)},
                'meta': {'iter': iteration}}, str(path))


def test_damaged_checkpoints_are_named_not_called_unsafe(tmp_path):
    from mmaims.utils import CorruptCheckpointError
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    good = tmp_path / 'good.pth'
    _toy_checkpoint(good, 1)
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(good.read_bytes()[:200])
    garbage = tmp_path / 'garbage.pth'
    garbage.write_bytes(b'not a checkpoint at all')
    for path in (empty, truncated, garbage):
        with pytest.raises(CorruptCheckpointError, match=str(path)):
            load_checkpoint_weights_only(str(path))


def test_resume_finds_the_newest_intact_checkpoint(tmp_path):
    from mmaims.utils import find_resume_checkpoint
    work_dir = tmp_path
    assert find_resume_checkpoint(str(work_dir)) == (None, [])
    for it in (2, 4, 6):
        _toy_checkpoint(work_dir / f'iter_{it}.pth', it)
    # the run was killed while writing iter_6 and last_checkpoint
    (work_dir / 'iter_6.pth').write_bytes(
        (work_dir / 'iter_4.pth').read_bytes()[:100])
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'iter_8.pth'))
    found, skipped = find_resume_checkpoint(str(work_dir))
    assert found == str(work_dir / 'iter_4.pth')
    assert skipped[0].startswith(f'{work_dir / "iter_8.pth"}: no such file')
    assert skipped[1].startswith(f'{work_dir / "iter_6.pth"}:')
    assert 'truncated' in skipped[1]
    # nothing intact at all
    for it in (2, 4):
        (work_dir / f'iter_{it}.pth').write_bytes(b'')
    found, skipped = find_resume_checkpoint(str(work_dir))
    assert found is None and len(skipped) == 4
