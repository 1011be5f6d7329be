# Copyright (c) mmaims contributors. All rights reserved.
"""tools/analysis_tools/study_table1.py end to end on a tiny setting: two
rows, one seed, two iterations of the tiny model on a few Table 1 profile
images; a second call skips the finished runs."""
import os.path as osp

from mmaims.datasets.synthetic_table1 import make_table1_dataset

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CONFIG = osp.join(REPO, 'tests', 'data', 'configs', 'aims_tiny.py')


def test_study_runs_and_prints_the_tables(tmp_path, load_tool, capsys):
    root = str(tmp_path / 'data') + '/'
    make_table1_dataset(root, num_images=10, num_val=4, seed=1, size=64)
    config = tmp_path / 'tiny_study.py'
    config.write_text(f"""
_base_ = {TINY_CONFIG!r}
root = {root!r}
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    sampler=dict(batch_size=2),
    dataset=dict(
        datasets=[dict(type='HierarchicalCocoDataset', data_root=root,
                       ann_file='annotations/train.json',
                       data_prefix=dict(img='images/'), pipeline=[])],
        source_map=dict(coco='t1_coco', entityseg='t1_entityseg',
                        ppp='t1_ppp', psg='t1_psg', paco='t1_paco')))
val_dataloader = dict(dataset=dict(data_root=root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=root + 'annotations/val.json')
test_evaluator = val_evaluator
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=2,
                 val_interval=1000)
param_scheduler = []
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=2))
""")
    study = load_tool('analysis_tools/study_table1.py')
    argv = [
        '--config',
        str(config), '--work-dir',
        str(tmp_path / 'study'), '--rows', 'baseline', 'full', '--seeds',
        '1', '1'
    ]
    text = study.main(argv)
    assert 'Table 3a' in text and 'Table 6' in text
    # baseline and full fill rows 1 and 5 of Table 3a, 1 and 7 of Table 6
    lines = {
        line.split('|')[1].strip(): line
        for line in text.splitlines() if line.startswith('| ')
        and line.split('|')[1].strip().isdigit()
    }
    assert '| 1 |' in lines['1'] and lines['1'].split('|')[4].strip() == '1'
    assert 'drill AP^P' in text and 'restricted AP^E' in text
    assert osp.isfile(tmp_path / 'study' / 'background' / 'tables.md')
    out = capsys.readouterr().out
    assert '[2/2] background full seed 0' in out
    # a second call finds the results and trains nothing
    study.main(argv)
    assert out.count('done before') == 0
    assert capsys.readouterr().out.count('done before') == 2
