# Copyright (c) mmaims contributors. All rights reserved.
"""Collect the metrics of several runs into one of the paper's ablation
tables (Tables 3a, 3b, 4a, 4b, 6 of the AIMS paper), as markdown, with the
paper's figures beside ours.

Each RUN is a metric file or a work dir, optionally prefixed with its row
(``ROW=PATH``). Without a prefix the row is read from the path, which holds
the config name of ``configs/aims/ablations/`` (``table3a_row2_mpe`` ->
row 2). Several runs of one row (seeds) are averaged; the cell shows the
mean, the spread (population standard deviation over the runs, when more
than one) and the paper's figure in brackets, all in percent.

A metric file is the JSON of ``tools/analysis_tools/eval_predictions.py
--out`` (one object) or the log JSON that ``tools/test.py`` / validation
write into ``WORK_DIR/TIMESTAMP/TIMESTAMP.json`` (one object per line; the
last line with ``aims/`` keys is used). For a work dir the newest such log
is used.

Columns (paper Sec. 4, federated evaluation): on the part + entity subset
(``--sources`` first, default ``ppp``) ``part_mAP``, ``entity_mAP``,
``entity_part_AR@100``; on the relation + entity subset (second, default
``psg``) ``relation_mAP``, ``entity_mAP``, ``relation_entity_AR@100``, each
read as ``aims/{source}/{key}`` (``FederatedMetric`` reports keys per
source when the ground truth has several sources). ``--drill-down`` adds
the drill-down mAP of entity -> parts and relation -> entities and their
one-step reference (``restricted``) beside the one-step columns.

Example::

    python tools/analysis_tools/ablation_table.py --table 3a \\
        work_dirs/table3a_row1_baseline work_dirs/table3a_row5_full \\
        --out table3a.md
"""
import argparse
import glob
import json
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmaims.utils.file_io import atomic_open

#: (subset index into --sources, metric key, column title)
COLUMNS = (
    (0, 'part_mAP', 'AP^P'),
    (0, 'entity_mAP', 'AP^E'),
    (0, 'entity_part_AR@100', 'AR^EP'),
    (1, 'relation_mAP', 'AP^R'),
    (1, 'entity_mAP', 'AP^E'),
    (1, 'relation_entity_AR@100', 'AR^RE'),
)

#: drill-down columns (``--drill-down``; the paper has no such figures):
#: entity -> parts on the first subset, relation -> entities on the second,
#: the model's drill-down and the one-step reference restricted to the
#: prompt (docs/formats.md section 3)
DRILL_COLUMNS = (
    (0, 'drill_part_mAP', 'drill AP^P'),
    (0, 'restricted_part_mAP', 'restricted AP^P'),
    (1, 'drill_entity_mAP', 'drill AP^E'),
    (1, 'restricted_entity_mAP', 'restricted AP^E'),
)

_BASE = (24.5, 53.4, 69.7, 38.9, 40.4, 50.9)
_FULL = (26.5, 56.1, 72.3, 40.5, 42.1, 53.1)

#: table -> row -> (setting, config name in configs/aims/ablations/,
#: paper figures in the order of COLUMNS)
TABLES: Dict[str, Dict[int, Tuple[str, str, Tuple[float, ...]]]] = {
    '3a': OrderedDict([
        (1, ('baseline (no MPE, TCM, AM)', 'table3a_row1_baseline', _BASE)),
        (2, ('+ MPE', 'table3a_row2_mpe',
             (25.7, 54.8, 71.0, 39.5, 41.2, 52.0))),
        (3, ('+ TCM', 'table3a_row3_tcm',
             (25.9, 55.0, 71.2, 39.9, 41.6, 52.3))),
        (4, ('+ AM', 'table3a_row4_am',
             (24.3, 53.1, 70.6, 39.0, 40.5, 52.0))),
        (5, ('MPE + TCM + AM', 'table3a_row5_full', _FULL)),
    ]),
    '3b': OrderedDict([
        (1, ('no prompt', 'table3b_row1_none',
             (24.5, 53.2, 69.6, 38.9, 40.3, 51.0))),
        (2, ('FUM', 'table3b_row2_fum', _BASE)),
        (3, ('PAM', 'table3b_row3_pam',
             (22.1, 51.8, 65.8, 35.8, 37.7, 47.6))),
        (4, ('FUM + PAM', 'table3b_row4_fum-pam',
             (25.6, 54.9, 70.4, 39.6, 41.3, 52.1))),
        (5, ('REM + EPM', 'table3b_row5_rem-epm',
             (20.4, 49.7, 62.3, 32.5, 35.6, 44.8))),
        (6, ('FUM + PAM + REM + EPM', 'table3b_row6_all', _FULL)),
    ]),
    '4a': OrderedDict([
        (1, ('no MPE', 'table4a_row1_none', _BASE)),
        (2, ('(CONV2B x 2) + (CONV1)', 'table4a_row2_conv2bx2-conv1', _FULL)),
        (3, ('(CONV2B x 2) + (CONV1 x 2)', 'table4a_row3_conv2bx2-conv1x2',
             (26.4, 56.1, 72.3, 40.5, 42.1, 53.1))),
        (4, ('(CONV2B x 2)', 'table4a_row4_conv2bx2',
             (25.9, 54.7, 71.1, 39.6, 41.6, 52.5))),
    ]),
    '4b': OrderedDict([
        (1, ('no TCM', 'table4b_row1_none', _BASE)),
        (2, ('SA', 'table4b_row2_sa', (25.5, 54.8, 70.7, 39.1, 40.9, 51.7))),
        (3, ('SA + FF', 'table4b_row3_sa-ff',
             (25.7, 54.3, 70.8, 39.7, 41.2, 52.3))),
        (4, ('SA + FF + ADD', 'table4b_row4_sa-ff-add', _FULL)),
    ]),
    '6': OrderedDict([
        (1, ('none (baseline)', 'table6_row1_none', _BASE)),
        (2, ('1-3', 'table6_row2_types1-3',
             (25.0, 53.5, 69.8, 39.2, 40.8, 51.3))),
        (3, ('4-6', 'table6_row3_types4-6',
             (22.5, 51.4, 67.3, 37.1, 37.6, 48.9))),
        (4, ('1-6', 'table6_row4_types1-6',
             (25.7, 54.4, 70.9, 39.6, 41.2, 51.8))),
        (5, ('1-7', 'table6_row5_types1-7',
             (26.4, 55.9, 72.1, 39.6, 41.3, 51.8))),
        (6, ('1-6, 8', 'table6_row6_types1-6-8',
             (25.7, 54.3, 71.0, 40.4, 42.0, 53.0))),
        (7, ('1-8', 'table6_row7_types1-8', _FULL)),
    ]),
}

_ROW_IN_PATH = re.compile(r'table(3a|3b|4a|4b|6)_row(\d+)')


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = argparse.ArgumentParser(
        description='Collect metric files of several runs into a paper '
        'ablation table (markdown)')
    parser.add_argument(
        'runs',
        nargs='+',
        metavar='RUN',
        help='metric JSON or work dir, optionally ROW=PATH')
    parser.add_argument(
        '--table', required=True, choices=sorted(TABLES), help='which table')
    parser.add_argument(
        '--sources',
        nargs=2,
        default=['ppp', 'psg'],
        metavar=('PART_ENTITY', 'RELATION_ENTITY'),
        help='source names of the two evaluation subsets')
    parser.add_argument(
        '--drill-down',
        action='store_true',
        help='add the drill-down columns (drill and restricted mAP)')
    parser.add_argument('--out', help='also write the table to this file')
    return parser.parse_args(argv)


def find_metric_file(path: str) -> str:
    """The metric file of a run: ``path`` itself, or for a work dir the
    newest ``*/*.json`` log with ``aims/`` keys."""
    if osp.isfile(path):
        return path
    if not osp.isdir(path):
        raise FileNotFoundError(f'{path}: no such metric file or work dir')
    logs = sorted(
        glob.glob(osp.join(path, '*', '*.json')),
        key=osp.getmtime,
        reverse=True)
    for log in logs:
        if read_metrics(log, required=False):
            return log
    raise FileNotFoundError(f'{path}: no */*.json log with aims/ metrics '
                            '(run tools/test.py on the checkpoint first)')


def read_metrics(path: str, required: bool = True) -> Dict[str, float]:
    """The ``aims/`` metrics of a metric file (one JSON object, or JSON
    lines of which the last with ``aims/`` keys counts)."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    try:
        records = [json.loads(text)]
    except json.JSONDecodeError:
        records = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f'{path}, line {number}: not JSON ({e})')
    for record in reversed(records):
        if isinstance(record, dict) and any(
                str(k).startswith('aims/') for k in record):
            return {
                k: float(v)
                for k, v in record.items()
                if str(k).startswith('aims/') and isinstance(v, (int, float))
            }
    if required:
        raise ValueError(f'{path}: no record with aims/ metric keys')
    return {}


def assign_rows(table: str, runs: Sequence[str]) -> Dict[int, List[str]]:
    """Row -> metric files, from ``ROW=PATH`` or the config name in the
    path."""
    rows = TABLES[table]
    by_row: Dict[int, List[str]] = {}
    for run in runs:
        head, sep, tail = run.partition('=')
        if sep and head.isdigit():
            row, path = int(head), tail
        else:
            path = run
            match = _ROW_IN_PATH.search(run)
            if match is None:
                raise ValueError(
                    f'{run}: cannot tell its row; give it as ROW={run} or '
                    'name the work dir after the config (tableXX_rowN_...)')
            if match.group(1) != table:
                raise ValueError(f'{run} is a run of Table {match.group(1)}, '
                                 f'not of Table {table}')
            row = int(match.group(2))
        if row not in rows:
            raise ValueError(f'{run}: Table {table} has rows '
                             f'{list(rows)}, not {row}')
        by_row.setdefault(row, []).append(find_metric_file(path))
    return by_row


def _cell(values: List[float], paper: Optional[float]) -> str:
    bracket = '' if paper is None else f' ({paper:.1f})'
    if not values:
        return '-' + bracket
    values = np.asarray(values) * 100
    text = f'{values.mean():.1f}'
    if len(values) > 1:
        text += f' ± {values.std():.1f}'
    return text + bracket


def make_table(table: str,
               by_row: Dict[int, List[str]],
               sources: Sequence[str],
               drill_down: bool = False) -> str:
    """The markdown table: one line per row of the paper's table; with
    ``drill_down`` the columns of :data:`DRILL_COLUMNS` follow."""
    columns = list(COLUMNS) + (list(DRILL_COLUMNS) if drill_down else [])
    header = ['row', 'setting', 'config', 'runs'] + [
        f'{sources[subset]} {title}' for subset, _, title in columns
    ]
    lines = [
        f'Table {table}: ours (mean ± spread over runs, %) and, in '
        'brackets, the paper\'s figure.', '',
        '| ' + ' | '.join(header) + ' |',
        '|' + '---|' * len(header)
    ]
    for row, (setting, config, paper) in TABLES[table].items():
        files = by_row.get(row, [])
        metrics = [read_metrics(f) for f in files]
        cells = []
        papers = list(paper) + [None] * (len(columns) - len(paper))
        for (subset, key, _), paper_value in zip(columns, papers):
            name = f'aims/{sources[subset]}/{key}'
            values = [m[name] for m in metrics if m.get(name, -1) >= 0]
            cells.append(_cell(values, paper_value))
        lines.append('| ' + ' | '.join([str(row), setting, config,
                                        str(len(files))] + cells) + ' |')
    return '\n'.join(lines) + '\n'


def emit(table: str, out: Optional[str] = None) -> str:
    """Print a table and, with ``out``, write it there atomically."""
    print(table, end='')
    if out:
        with atomic_open(out) as f:
            f.write(table)
    return table


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    return emit(
        make_table(args.table, assign_rows(args.table, args.runs),
                   args.sources, args.drill_down), args.out)


if __name__ == '__main__':
    main()
