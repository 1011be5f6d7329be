# Copyright (c) mmaims contributors. All rights reserved.
import os
import os.path as osp
import subprocess
import sys

import cv2

from mmaims.datasets.synthetic import make_synthetic_dataset

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_browse_synthetic_config(tmp_path):
    make_synthetic_dataset(
        str(tmp_path / 'data' / 'aims_synthetic'), num_images=12, num_val=2,
        seed=0)
    out_dir = tmp_path / 'vis'
    cmd = [
        sys.executable,
        osp.join(REPO, 'tools', 'misc', 'browse_dataset.py'),
        osp.join(REPO, 'configs', '_base_', 'datasets',
                 'aims_synthetic.py'), '--output-dir',
        str(out_dir), '-n', '8'
    ]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [REPO, os.environ.get('PYTHONPATH', '')]))
    out = subprocess.run(
        cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    files = sorted(os.listdir(out_dir))
    assert len(files) == 8
    # a balanced batch of 8: every sample type once
    assert sorted(int(f.split('_type')[1].split('_')[0])
                  for f in files) == list(range(1, 9))
    img = cv2.imread(str(out_dir / files[0]))
    # title bar + four panels side by side
    assert img.shape[1] >= 4 * img.shape[0] // 2
