# Copyright (c) mmaims contributors. All rights reserved.
import importlib.util
import os
import os.path as osp
import sys

import cv2

from mmaims.datasets.synthetic import make_synthetic_dataset

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_tool():
    path = osp.join(REPO, 'tools', 'misc', 'browse_dataset.py')
    spec = importlib.util.spec_from_file_location('_browse_dataset', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_browse_synthetic_config(tmp_path, monkeypatch):
    make_synthetic_dataset(
        str(tmp_path / 'data' / 'aims_synthetic'), num_images=12, num_val=2,
        seed=0)
    out_dir = tmp_path / 'vis'
    config = osp.join(REPO, 'configs', '_base_', 'datasets',
                      'aims_synthetic.py')
    tool = _load_tool()
    # the config's data_root is relative to the working directory
    monkeypatch.chdir(tmp_path)
    for split, num in (('train', 8), ('val', 2)):
        monkeypatch.setattr(sys, 'argv', [
            'browse_dataset.py', config, '--output-dir',
            str(out_dir / split), '-n',
            str(num), '--split', split
        ])
        tool.main()
    files = sorted(os.listdir(out_dir / 'train'))
    assert len(files) == 8
    # a balanced batch of 8: every sample type once
    assert sorted(int(f.split('_type')[1].split('_')[0])
                  for f in files) == list(range(1, 9))
    img = cv2.imread(str(out_dir / 'train' / files[0]))
    # title bar + four panels side by side
    assert img.shape[1] >= 4 * img.shape[0] // 2
    val = sorted(os.listdir(out_dir / 'val'))
    assert [f.split('_')[1] for f in val] == ['type0', 'type0']
