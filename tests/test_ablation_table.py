# Copyright (c) mmaims contributors. All rights reserved.
"""tools/analysis_tools/ablation_table.py on small metric files."""
import importlib.util
import json
import os
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
spec = importlib.util.spec_from_file_location(
    'ablation_table',
    osp.join(REPO, 'tools', 'analysis_tools', 'ablation_table.py'))
ablation_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ablation_table)

KEYS = ('part_mAP', 'entity_mAP', 'entity_part_AR@100', 'relation_mAP',
        'relation_entity_AR@100')


def _metrics(value, sources=('ppp', 'psg')):
    metrics = {'aims/entity_mAP': 0.9, 'step': 3}
    for source in sources:
        for key in KEYS:
            metrics[f'aims/{source}/{key}'] = value
    return metrics


def _work_dir(root, name, value, sources=('ppp', 'psg')):
    """A work dir as tools/test.py leaves it: TIMESTAMP/TIMESTAMP.json."""
    log_dir = osp.join(root, name, '20261130_120000')
    os.makedirs(log_dir)
    with open(osp.join(log_dir, '20261130_120000.json'), 'w') as f:
        json.dump(_metrics(value, sources), f)
    return osp.join(root, name)


def test_rows_from_work_dir_names_with_mean_and_spread(tmp_path):
    root = str(tmp_path)
    runs = [
        _work_dir(root, 'table3a_row1_baseline', 0.20),
        _work_dir(root, 'seed1/table3a_row5_full', 0.30),
        _work_dir(root, 'seed2/table3a_row5_full', 0.40),
    ]
    out = str(tmp_path / 'table.md')
    table = ablation_table.main(['--table', '3a', '--out', out] + runs)
    lines = table.splitlines()
    assert lines[2].startswith('| row | setting | config | runs | ppp AP^P')
    rows = {line.split(' | ')[0][2:]: line for line in lines[4:]}
    assert len(rows) == 5
    # one run: its value; the paper's figure in brackets
    assert rows['1'].endswith(
        '| 20.0 (24.5) | 20.0 (53.4) | 20.0 (69.7) | 20.0 (38.9) | '
        '20.0 (40.4) | 20.0 (50.9) |')
    # two runs: mean and population standard deviation
    assert '| 2 | 35.0 ± 5.0 (26.5) |' in rows['5']
    # a row without runs shows the paper only
    assert rows['2'].endswith('| 0 | - (25.7) | - (54.8) | - (71.0) | '
                              '- (39.5) | - (41.2) | - (52.0) |')
    with open(out) as f:
        assert f.read() == table


def test_explicit_rows_metric_files_and_sources(tmp_path):
    # eval_predictions.py --out writes one JSON object; the synthetic
    # sources are toy_ppp and toy_psg
    a, b = tmp_path / 'a.json', tmp_path / 'b.json'
    a.write_text(json.dumps(_metrics(0.5, ('toy_ppp', 'toy_psg'))))
    # a training log: JSON lines, the last one with aims/ keys counts
    b.write_text('\n'.join([
        json.dumps({'loss': 1.0, 'step': 1}),
        json.dumps(_metrics(0.1, ('toy_ppp', 'toy_psg'))),
        json.dumps(_metrics(0.6, ('toy_ppp', 'toy_psg'))),
        json.dumps({'loss': 0.5, 'step': 2}),
    ]))
    table = ablation_table.main([
        '--table', '4b', '--sources', 'toy_ppp', 'toy_psg', f'2={a}',
        f'3={b}'
    ])
    assert '| 2 | SA | table4b_row2_sa | 1 | 50.0 (25.5) |' in table
    assert '| 3 | SA + FF | table4b_row3_sa-ff | 1 | 60.0 (25.7) |' in table
    assert 'toy_psg AR^RE' in table


def test_missing_keys_and_bad_runs(tmp_path):
    only_ppp = tmp_path / 'm.json'
    only_ppp.write_text(json.dumps(_metrics(0.5, ('ppp', ))))
    table = ablation_table.main(['--table', '6', f'7={only_ppp}'])
    row = [line for line in table.splitlines() if line.startswith('| 7 |')]
    assert row[0].endswith('| 50.0 (72.3) | - (40.5) | - (42.1) | - (53.1) |')
    with pytest.raises(ValueError, match='cannot tell its row'):
        ablation_table.main(['--table', '6', str(only_ppp)])
    with pytest.raises(ValueError, match='Table 3a, not of Table 6'):
        ablation_table.main(
            ['--table', '6',
             _work_dir(str(tmp_path), 'table3a_row2_mpe', 0.1)])
    with pytest.raises(ValueError, match='has rows'):
        ablation_table.main(['--table', '4a', f'9={only_ppp}'])
    with pytest.raises(FileNotFoundError, match='no such'):
        ablation_table.main(['--table', '4a', '1=/nonexistent/x.json'])
    empty = tmp_path / 'table6_row2_types1-3'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match='tools/test.py'):
        ablation_table.main(['--table', '6', str(empty)])


def test_every_row_names_an_existing_config():
    for table, rows in ablation_table.TABLES.items():
        for row, (_, config, paper) in rows.items():
            assert config.startswith(f'table{table}_row{row}_')
            assert osp.isfile(
                osp.join(REPO, 'configs', 'aims', 'ablations',
                         config + '.py'))
            assert len(paper) == len(ablation_table.COLUMNS)
