# Copyright (c) mmaims contributors. All rights reserved.
import importlib.util
import json
import os.path as osp
import random

import pytest
from converter_checks import (DATA, SAMPLE, check_hierarchical_file,
                              convert_all_fixtures)

from mmaims.datasets.converters import build_eval_split, image_keys

REPO = osp.abspath(osp.join(DATA, '..', '..', '..'))


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp('converted')
    files = convert_all_fixtures(root)
    return files


def _coco_ids(data):
    return {i.get('coco_image_id') for i in data['images']} - {None}


def test_image_keys():
    assert image_keys(
        dict(
            id=3, source='psg', source_image_id='40002',
            coco_image_id=439180)) == {('coco', 439180), ('psg', '40002')}
    assert image_keys(
        dict(id=2008000003, source='ppp',
             source_image_id='2008_000003')) == {('voc', '2008_000003'),
                                                 ('ppp', '2008_000003')}


def test_split_removes_every_eval_image(converted, tmp_path):
    out_dir = str(tmp_path / 'split')
    train = list(converted.values())
    report = build_eval_split(
        train,
        out_dir,
        ppp_file=converted['ppp'],
        psg_file=converted['psg'],
        num_ppp=1,
        seed=3)
    # PPP: 2 validation images eligible, 1 requested
    assert report['eval']['ppp'] == dict(requested=1, eligible=2, selected=1)
    # PSG: only '40002' is in test_image_ids: fewer than the 1,000 asked
    assert report['eval']['psg'] == dict(
        requested=1000, eligible=1, selected=1)
    assert any('only 1 are eligible' in n for n in report['notes'])

    ev_ppp = check_hierarchical_file(osp.join(out_dir, 'eval_ppp.json'))
    ev_psg = check_hierarchical_file(osp.join(out_dir, 'eval_psg.json'))
    ev = check_hierarchical_file(osp.join(out_dir, 'eval.json'))
    tr = check_hierarchical_file(osp.join(out_dir, 'train.json'))
    assert len(ev['images']) == 2
    stem = ev_ppp['images'][0]['source_image_id']
    assert stem in ('2008_000003', '2008_000007')
    assert ev_psg['images'][0]['source_image_id'] == '40002'
    assert ev_psg['images'][0]['coco_image_id'] == 439180
    # every PSG eval image keeps its relations in the eval file
    assert any(a['level'] == 'relation' for a in ev_psg['annotations'])

    # no evaluation image is left in training, whatever the source
    assert 439180 not in _coco_ids(tr)
    assert stem not in {i['source_image_id'] for i in tr['images']}
    removed = {
        osp.basename(p).split('.')[0]: c['removed']
        for p, c in report['train'].items()
    }
    assert removed == dict(coco=1, entityseg=1, ppp=1, paco=1, psg=1)
    assert report['train_total']['removed/paco'] == 1
    # 142238 stays in coco, entityseg, paco and psg
    assert report['train_total']['coco_images_in_several_sources'] == 1
    assert report['train']['%s' % converted['coco']]['removed_by_key'] == {
        'coco': 1
    }
    kept = {
        osp.basename(p).split('.')[0]: c['kept']
        for p, c in report['train'].items()
    }
    assert kept == dict(coco=1, entityseg=2, ppp=2, paco=1, psg=1)
    # the union: fresh unique ids, all sources, original ids kept
    assert [i['id'] for i in tr['images']] == list(range(1, 8))
    assert {i['source']
            for i in tr['images']
            } == {'coco', 'entityseg', 'ppp', 'paco', 'psg'}
    assert tr['categories'] == []
    assert set(tr['source_categories']) == {
        'coco', 'entityseg', 'ppp', 'paco', 'psg'
    }
    # the remaining images' annotations all came along
    n_src = 0
    for path in train:
        data = json.load(open(path))
        gone = {
            i['id']
            for i in data['images'] if i.get('coco_image_id') == 439180
            or i.get('source_image_id') == stem
        }
        n_src += sum(a['image_id'] not in gone for a in data['annotations'])
    assert len(tr['annotations']) == n_src
    assert json.load(open(osp.join(out_dir, 'split_report.json'))) == \
        json.loads(json.dumps(report))


def test_selection_is_seeded(converted, tmp_path):
    ppp = json.load(open(converted['ppp']))
    pool = sorted(ppp['images'], key=lambda i: str(i['id']))
    for seed in range(4):
        out_dir = str(tmp_path / f's{seed}')
        build_eval_split([converted['coco']],
                         out_dir,
                         ppp_file=converted['ppp'],
                         num_ppp=2,
                         seed=seed,
                         ppp_pool=None)
        got = [
            i['source_image_id'] for i in json.load(
                open(osp.join(out_dir, 'eval_ppp.json')))['images']
        ]
        want = sorted(
            random.Random(seed).sample(pool, 2), key=lambda i: str(i['id']))
        assert got == [i['source_image_id'] for i in want]
        assert not osp.exists(osp.join(out_dir, 'eval_psg.json'))


def test_cli(converted, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        'aims_convert',
        osp.join(REPO, 'tools', 'dataset_converters', 'aims_convert.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    out = str(tmp_path / 'psg.json')
    assert cli.main([
        'psg',
        osp.join(DATA, 'psg', 'psg_sample.json'), SAMPLE, '--out', out,
        '--predicates', 'beside, holding', '--touch-px', '1'
    ]) == 0
    printed = capsys.readouterr().out
    assert 'Conversion report (psg)' in printed
    assert 'relations: read 10, kept 2' in printed
    assert osp.isfile(str(tmp_path / 'psg.report.json'))
    assert cli.main([
        'split', '--psg', out, '--train', converted['coco'], '--out-dir',
        str(tmp_path / 'split'), '--psg-pool', 'all', '--num-psg', '1'
    ]) == 0
    assert 'eval psg: selected 1 of 1 eligible' in capsys.readouterr().out
    assert cli.main([
        'coco-panoptic',
        osp.join(SAMPLE, 'panoptic_examples.json'),
        str(tmp_path), '--out',
        str(tmp_path / 'x.json')
    ]) == 1
    assert '000000142238.png' in capsys.readouterr().err


def test_bad_training_input_writes_nothing(converted, tmp_path):
    """A typo in a training file, or a training file that is not JSON,
    must not leave new evaluation files beside an old train.json."""
    from mmaims.datasets.converters.common import ConversionError
    out_dir = tmp_path / 'split'
    out_dir.mkdir()
    (out_dir / 'train.json').write_text('old')
    kwargs = dict(ppp_file=converted['ppp'], psg_file=converted['psg'])
    with pytest.raises(ConversionError, match='tarin.json" does not exist'):
        build_eval_split([converted['coco'], str(tmp_path / 'tarin.json')],
                         str(out_dir), **kwargs)
    broken = tmp_path / 'broken.json'
    broken.write_text('{"images": [')
    with pytest.raises(ConversionError, match='not valid JSON'):
        build_eval_split([converted['coco'], str(broken)], str(out_dir),
                         **kwargs)
    assert sorted(p.name for p in out_dir.iterdir()) == ['train.json']
    assert (out_dir / 'train.json').read_text() == 'old'


@pytest.mark.parametrize('argv,message', [
    (['split', '--train', 'a.json', '--out-dir', 'OUT'],
     'split needs --ppp and/or --psg'),
    (['psg', 'psg.json', 'seg', '--out', 'OUT.json', '--nproc', '0'],
     '--nproc: must be at least 1, got 0'),
    (['paco', 'paco.json', '--out', 'TMP'], 'is a folder'),
    (['split', '--ppp', 'p.json', '--train', 'a.json', '--out-dir', 'FILE'],
     'is a file'),
])
def test_cli_arguments_checked_before_any_work(argv, message, tmp_path,
                                               capsys):
    """Bad arguments are a usage error (exit 2) before any conversion, not
    a traceback at its end."""
    spec = importlib.util.spec_from_file_location(
        'aims_convert',
        osp.join(REPO, 'tools', 'dataset_converters', 'aims_convert.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    (tmp_path / 'FILE').write_text('')
    argv = [
        str(tmp_path) if a == 'TMP' else str(tmp_path / 'FILE')
        if a == 'FILE' else a for a in argv
    ]
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err
