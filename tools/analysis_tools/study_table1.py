# Copyright (c) mmaims contributors. All rights reserved.
"""The Table 3a / Table 6 study on CPU: train and evaluate every row with
several seeds, then print the tables (docs/study_table1.md).

    python tools/analysis_tools/study_table1.py \\
        [--config configs/aims/study/aims_r18_table1.py] \\
        [--semantics background|ignore] [--work-dir work_dirs/study_table1] \\
        [--rows baseline full ...] [--seeds 3 2]

Rows (all with the config's iterations and batch; only modules, sample
types, semantics and seed change):

===========  ==============================  ==================  =======
row          modules / sample types          paper rows          seeds
===========  ==============================  ==================  =======
baseline     none, types 1-3 (Sec. 3.1)      3a row 1, 6 row 1   3
mpe          MPE, types 1-8                  3a row 2            2
tcm          TCM, types 1-3                  3a row 3            2
am           AM, types 1-3                   3a row 4            2
full         MPE + TCM + AM, types 1-8       3a row 5, 6 row 7   3
types1-3     full modules, types 1-3         6 row 2             2
types1-6     full modules, types 1-6         6 row 4             2
===========  ==============================  ==================  =======

``--semantics background`` (the default) is the paper's: unannotated
pixels are background on full-image samples; ``ignore`` is mmaims's
default (``model.train_cfg.unannotated``). Seeds are 0, 1, 2...
(``randomness.seed``); the data is the same for every run.

Each run lives in ``WORK_DIR/SEMANTICS/ROW/seedS``: ``tools/train.py``,
then ``tools/test.py`` on the last checkpoint into ``test/`` (one-step and
drill-down metrics, ``--out`` predictions), and ``time.json`` with the
seconds each took. A run whose ``test/`` metrics exist is skipped, and a
training that was interrupted resumes from its last checkpoint, so the
study can be stopped and continued. At the end the Table 3a and Table 6
tables (``ablation_table.py``, mean ± spread over seeds, one-step and
drill-down columns side by side) are printed and written to
``WORK_DIR/SEMANTICS/tables.md``.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from collections import OrderedDict
from typing import Dict, List, Sequence, Tuple

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))

from ablation_table import find_metric_file, make_table  # noqa: E402

_TYPES_1_3 = '(1,2,3)'
#: row -> (cfg options, [(table, paper row)], default seeds index: 0 for
#: the rows with more seeds (baseline, full), 1 for the others)
ROWS: 'OrderedDict[str, Tuple[List[str], List[Tuple[str, int]], int]]' = \
    OrderedDict([
        ('baseline', ([
            'model.prompt_encoder=None', 'model.decode_head.tcm=None',
            'model.association_head=None',
            f'train_dataloader.dataset.sample_types={_TYPES_1_3}'
        ], [('3a', 1), ('6', 1)], 0)),
        ('mpe', ([
            'model.decode_head.tcm=None', 'model.association_head=None'
        ], [('3a', 2)], 1)),
        ('tcm', ([
            'model.prompt_encoder=None', 'model.association_head=None',
            f'train_dataloader.dataset.sample_types={_TYPES_1_3}'
        ], [('3a', 3)], 1)),
        ('am', ([
            'model.prompt_encoder=None', 'model.decode_head.tcm=None',
            f'train_dataloader.dataset.sample_types={_TYPES_1_3}'
        ], [('3a', 4)], 1)),
        ('full', ([], [('3a', 5), ('6', 7)], 0)),
        ('types1-3', ([f'train_dataloader.dataset.sample_types={_TYPES_1_3}'
                       ], [('6', 2)], 1)),
        ('types1-6', ([
            'train_dataloader.dataset.sample_types=(1,2,3,4,5,6)'
        ], [('6', 4)], 1)),
    ])
#: the two evaluation subsets of the Table 1 profile
SOURCES = ('t1_eval_ppp', 't1_eval_psg')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Table 3a / Table 6 study on CPU')
    parser.add_argument(
        '--config', default='configs/aims/study/aims_r18_table1.py')
    parser.add_argument(
        '--semantics', choices=('background', 'ignore'), default='background')
    parser.add_argument('--work-dir', default='work_dirs/study_table1')
    parser.add_argument(
        '--rows', nargs='+', choices=list(ROWS), default=list(ROWS))
    parser.add_argument(
        '--seeds',
        nargs=2,
        type=int,
        default=(3, 2),
        metavar=('MAIN', 'OTHER'),
        help='seeds of the baseline and the full model, and of each other '
        'row')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='more options for every run (e.g. to shorten it)')
    parser.add_argument(
        '--sources',
        nargs=2,
        default=list(SOURCES),
        help='the part + entity and the relation + entity evaluation '
        'sources')
    return parser.parse_args(argv)


def _run(cmd: List[str], log: str) -> None:
    with open(log, 'a') as f:
        proc = subprocess.run(
            cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise SystemExit(f'failed ({proc.returncode}): {" ".join(cmd)}; '
                         f'see {log}')


def _has_metrics(test_dir: str) -> bool:
    try:
        find_metric_file(test_dir)
        return True
    except (FileNotFoundError, ValueError):
        return False


def run_one(config: str, work_dir: str, options: Sequence[str]) -> Dict:
    """Train and test one run, unless its metrics exist; return its
    times."""
    test_dir = osp.join(work_dir, 'test')
    times_file = osp.join(work_dir, 'time.json')
    if _has_metrics(test_dir):
        with open(times_file) as f:
            return dict(json.load(f), skipped=True)
    os.makedirs(work_dir, exist_ok=True)
    log = osp.join(work_dir, 'study.log')
    py = sys.executable
    train = [py, 'tools/train.py', config, '--work-dir', work_dir]
    if osp.exists(osp.join(work_dir, 'last_checkpoint')):
        train.append('--resume')
    t0 = time.time()
    _run(train + ['--cfg-options'] + list(options), log)
    t1 = time.time()
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    _run([
        py, 'tools/test.py', config, checkpoint, '--work-dir', test_dir,
        '--out',
        osp.join(test_dir, 'predictions.json'), '--cfg-options'
    ] + list(options), log)
    times = dict(train_s=round(t1 - t0, 1), test_s=round(time.time() - t1, 1))
    with open(times_file, 'w') as f:
        json.dump(times, f)
    return times


def main(argv=None) -> str:
    args = parse_args(argv)
    root = osp.join(args.work_dir, args.semantics)
    plan = []
    for row in args.rows:
        options, _, seeds_index = ROWS[row]
        for seed in range(args.seeds[seeds_index]):
            plan.append((row, seed, options + [
                f'randomness.seed={seed}',
                f'model.train_cfg.unannotated={args.semantics}'
            ] + list(args.cfg_options)))
    start = time.time()
    runs: Dict[str, List[str]] = {}
    for number, (row, seed, options) in enumerate(plan, 1):
        work_dir = osp.join(root, row, f'seed{seed}')
        print(f'[{number}/{len(plan)}] {args.semantics} {row} seed {seed}: '
              f'{work_dir}', flush=True)
        times = run_one(args.config, work_dir, options)
        state = 'done before' if times.get('skipped') else 'done'
        print(f'    {state}: train {times["train_s"]} s, test '
              f'{times["test_s"]} s (elapsed {time.time() - start:.0f} s)',
              flush=True)
        runs.setdefault(row, []).append(osp.join(work_dir, 'test'))
    tables = []
    for table in ('3a', '6'):
        by_row: Dict[int, List[str]] = {}
        for row, paths in runs.items():
            for name, paper_row in ROWS[row][1]:
                if name == table:
                    by_row.setdefault(paper_row, []).extend(
                        find_metric_file(p) for p in paths)
        tables.append(
            make_table(table, by_row, args.sources, drill_down=True))
    text = (f'Semantics: {args.semantics}; config {args.config}; '
            f'options {" ".join(args.cfg_options) or "none"}.\n\n' +
            '\n'.join(tables))
    print(text, end='')
    with open(osp.join(root, 'tables.md'), 'w') as f:
        f.write(text)
    return text


if __name__ == '__main__':
    main()
