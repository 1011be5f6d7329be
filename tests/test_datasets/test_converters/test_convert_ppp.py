# Copyright (c) mmaims contributors. All rights reserved.
import json
import os.path as osp

import numpy as np
import pytest
from converter_checks import DATA, check_hierarchical_file, check_report
from PIL import Image

from mmaims.datasets.converters import (ConversionError, convert_ppp,
                                        decode_uids, load_ppp_spec)
from mmaims.structures import decode_rle

LABELS = osp.join(DATA, 'ppp', 'labels')
SPEC = osp.join(DATA, 'ppp', 'ppp_datasetspec_mini.yaml')
RICH = osp.join(LABELS, 'validation', '2008_000003.tif')


def _label(path=RICH):
    return np.asarray(Image.open(path), dtype=np.int32)


def test_decode_uids_matches_label_format():
    sid, iid, pid, valid = decode_uids([
        0, 7, 99, 100, 999, 1000, 7001, 15002, 700120, 2401002, 9999999,
        10000000, -3
    ])
    assert sid.tolist() == [0, 7, 99, -1, -1, 1, 7, 15, 7, 24, 99, -1, -1]
    assert iid.tolist() == [-1, -1, -1, -1, -1, 0, 1, 2, 1, 10, 999, -1, -1]
    assert pid.tolist() == [-1, -1, -1, -1, -1, -1, -1, -1, 20, 2, 99, -1, -1]
    assert valid.tolist(
    ) == [True] * 3 + [False] * 2 + [True] * 6 + [False] * 2


def test_fixture_is_a_real_format_tiff():
    img = Image.open(RICH)
    assert img.mode == 'I'
    assert img.format == 'TIFF'


def test_convert_ppp_fixture(tmp_path):
    out = str(tmp_path / 'ppp.json')
    report = convert_ppp(LABELS, out)
    data = check_hierarchical_file(out)
    counts = check_report(report)
    assert counts['images'] == dict(read=3, kept=3, skipped={})
    assert counts['uids'] == dict(
        read=21,
        kept=17,
        skipped=dict(unlabeled=1, invalid_uid=2, instance_id_on_stuff=1))
    assert counts['entities'] == dict(read=10, kept=10, skipped={})
    assert counts['parts'] == dict(read=10, kept=10, skipped={})
    assert counts['part_ignore_regions'] == dict(read=7, kept=7, skipped={})
    # what the report keeps is what the file holds
    num_parts = sum(a['level'] == 'part' for a in data['annotations'])
    assert num_parts == counts['parts']['kept'] + counts[
        'part_ignore_regions']['kept']
    assert report.stats['crowd_entities'] == 1
    label = _label()
    assert report.stats['invalid_uid_pixels'] == np.isin(
        label, [500, 12_345_678]).sum()
    assert report.stats['unlabeled_pixels'] == (label == 0).sum()

    img = next(i for i in data['images'] if i['id'] == 2008000003)
    assert img['file_name'] == 'JPEGImages/2008_000003.jpg'
    assert (img['height'], img['width']) == (40, 60)
    assert img['levels'] == ['part', 'entity']
    assert img['source'] == 'ppp'
    assert img['source_split'] == 'validation'
    assert img['source_image_id'] == '2008_000003'
    np.testing.assert_array_equal(
        decode_rle(img['valid_region']),
        ~np.isin(label, [0, 500, 12_345_678, 50_003]))

    anns = [a for a in data['annotations'] if a['image_id'] == 2008000003]
    ents = {
        (a['category_id'], a.get('instance_id'), a['iscrowd']): a
        for a in anns if a['level'] == 'entity'
    }
    assert set(ents) == {(50, None, 0), (25, None, 0), (7, 1, 0), (15, 2, 0),
                         (9, 1, 0), (15, None, 1)}

    def mask(a):
        return decode_rle(a['segmentation'])

    # stuff: one entity even though disconnected
    np.testing.assert_array_equal(mask(ents[(50, None, 0)]), label == 50)
    car = ents[(7, 1, 0)]
    np.testing.assert_array_equal(
        mask(car), np.isin(label, [7001, 700101, 700110, 700120, 700121]))
    # thing pixels without instance id: an entity-level ignore region
    np.testing.assert_array_equal(mask(ents[(15, None, 1)]), label == 15)

    parts = [a for a in anns if a['level'] == 'part' and not a['iscrowd']]
    car_parts = {a['part_id']: a for a in parts if a['entity_id'] == car['id']}
    # the two wheels (instance-wise pids 20, 21) stay separate parts
    assert sorted(car_parts) == [1, 10, 20, 21]
    for pid, a in car_parts.items():
        np.testing.assert_array_equal(mask(a), label == 700100 + pid)
        assert a['category_id'] == 700 + pid  # no spec: raw pid
    person = ents[(15, 2, 0)]
    assert sorted(a['part_id'] for a in parts
                  if a['entity_id'] == person['id']) == [1, 11]

    # part level ignore regions: entity pixels that no part covers
    ignore = {
        a['entity_id']: mask(a)
        for a in anns if a['level'] == 'part' and a['iscrowd']
    }
    assert set(ignore) == {
        ents[k]['id']
        for k in [(50, None, 0), (25, None, 0), (7, 1, 0), (9, 1,
                                                            0), (15, None, 1)]
    }
    np.testing.assert_array_equal(ignore[car['id']], label == 7001)
    np.testing.assert_array_equal(ignore[ents[(9, 1, 0)]['id']], label == 9001)

    splits = {i['source_image_id']: i['source_split'] for i in data['images']}
    assert splits == {
        '2008_000002': 'training',
        '2008_000003': 'validation',
        '2008_000007': 'validation'
    }
    # fully labeled images have no valid_region
    assert all('valid_region' not in i for i in data['images']
               if i['id'] != 2008000003)


def test_spec_folds_countable_parts(tmp_path):
    out = str(tmp_path / 'ppp.json')
    report = convert_ppp(LABELS, out, spec_file=SPEC)
    data = check_hierarchical_file(out)
    check_report(report)
    cats = {c['id']: c['name'] for c in data['categories']}
    assert cats[7] == 'car' and cats[711] == 'car:wheel'
    wheels = [a for a in data['annotations'] if a.get('part_id') in (20, 21)]
    assert len(wheels) == 2
    assert all(a['category_id'] == 711 for a in wheels)
    door = next(a for a in data['annotations'] if a.get('part_id') == 10)
    assert door['category_id'] == 710
    assert cats[1511] == 'person:torso'
    spec = load_ppp_spec(SPEC)
    assert spec['thing_sids'] == list(range(1, 21))
    assert spec['fold'][7][22] == 11


def test_multiprocess_equals_single(tmp_path):
    one, two = str(tmp_path / 'one.json'), str(tmp_path / 'two.json')
    convert_ppp(LABELS, one, nproc=1)
    convert_ppp(LABELS, two, nproc=2)
    assert json.load(open(one)) == json.load(open(two))


def _write(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(array) if mode is None else Image.fromarray(
        array, mode)
    img.save(path)
    return path


def test_image_without_entity_is_skipped(tmp_path):
    lab = np.zeros((8, 8), np.int32)
    lab[:4] = 15  # person pixels without instance: crowd only
    _write(tmp_path / 'labels' / '2010_000001.tif', lab)
    out = str(tmp_path / 'o.json')
    report = convert_ppp(str(tmp_path / 'labels'), out)
    counts = check_report(report)
    assert counts['images']['skipped'] == dict(no_entity=1)
    assert counts['entities']['skipped'] == dict(image_skipped=1)
    assert counts['uids']['skipped'] == dict(unlabeled=1, image_skipped=1)
    assert json.load(open(out))['images'] == []


def test_errors(tmp_path):
    with pytest.raises(ConversionError, match='does not exist'):
        convert_ppp(str(tmp_path / 'nowhere'), str(tmp_path / 'o.json'))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ConversionError, match='no .tif labels'):
        convert_ppp(str(tmp_path / 'empty'), str(tmp_path / 'o.json'))
    _write(tmp_path / 'l8' / '2010_000001.tif', np.zeros((4, 4), np.uint8))
    with pytest.raises(ConversionError, match='2010_000001.tif.*mode "L"'):
        convert_ppp(str(tmp_path / 'l8'), str(tmp_path / 'o.json'))
    _write(tmp_path / 'name' / 'frame1.tif', np.zeros((4, 4), np.int32))
    with pytest.raises(ConversionError, match='frame1.tif: expected a VOC'):
        convert_ppp(str(tmp_path / 'name'), str(tmp_path / 'o.json'))
    lab = np.full((4, 4), 7_001_77, np.int32)  # car pid 77: not in spec
    _write(tmp_path / 'pid' / '2010_000002.tif', lab)
    with pytest.raises(ConversionError, match='uid 700177.*part id 77'):
        convert_ppp(
            str(tmp_path / 'pid'), str(tmp_path / 'o.json'), spec_file=SPEC)
    with pytest.raises(ConversionError, match='spec'):
        convert_ppp(
            LABELS,
            str(tmp_path / 'o.json'),
            spec_file=str(tmp_path / 'none.yaml'))
