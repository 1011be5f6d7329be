# Copyright (c) mmaims contributors. All rights reserved.
import json
import os.path as osp

import numpy as np
import pytest
from converter_checks import (DATA, SAMPLE, check_hierarchical_file,
                              check_report)
from PIL import Image

from mmaims.datasets.converters import (DEFAULT_CONTACT_PREDICATES,
                                        ConversionError, convert_psg,
                                        masks_touch, rgb2id)
from mmaims.structures import decode_rle

PSG = osp.join(DATA, 'psg', 'psg_sample.json')


def _out(tmp_path, name='psg.json'):
    return str(tmp_path / name)


def test_default_predicates_are_psg_predicates():
    names = json.load(open(PSG))['predicate_classes']
    assert len(names) == 56
    assert len(DEFAULT_CONTACT_PREDICATES) == 29
    assert set(DEFAULT_CONTACT_PREDICATES) <= set(names)
    for no_contact in ('over', 'beside', 'looking at', 'chasing'):
        assert no_contact not in DEFAULT_CONTACT_PREDICATES


def test_masks_touch():
    a = np.zeros((5, 9), bool)
    b = np.zeros((5, 9), bool)
    a[:, :3] = True
    b[:, 5:] = True  # two pixels of gap
    assert not masks_touch(a, b, 2)
    assert masks_touch(a, b, 3)
    b[:, 3:] = True  # adjacent
    assert masks_touch(a, b, 1)
    c = np.zeros((5, 9), bool)
    c[3, 3] = True  # diagonal neighbour of a pixel of a
    a[3:] = False
    assert masks_touch(a, c, 1)


def test_convert_psg_fixture(tmp_path):
    out = _out(tmp_path)
    report = convert_psg(PSG, SAMPLE, out, img_prefix='coco/')
    data = check_hierarchical_file(out)
    counts = check_report(report)
    assert counts['images'] == dict(read=2, kept=2, skipped={})
    assert counts['segments'] == dict(
        read=51, kept=50, skipped=dict(empty_mask=1))
    assert counts['relations'] == dict(
        read=10,
        kept=4,
        skipped=dict(
            duplicate_pair=1,
            non_contact_predicate=2,
            self_relation=1,
            crowd_entity=1,
            entity_skipped=1))
    assert report.stats['predicate_read/holding'] == 4
    assert report.stats['predicate_kept/holding'] == 1
    assert report.stats['predicate_kept/standing on'] == 1

    src = {r['image_id']: r for r in json.load(open(PSG))['data']}
    images = {i['source_image_id']: i for i in data['images']}
    assert images['40001']['coco_image_id'] == 142238
    assert images['40001']['source_split'] == 'train'
    assert images['40002']['source_split'] == 'test'
    assert images['40001']['file_name'] == 'coco/val2017/000000142238.jpg'
    for psg_id, img in images.items():
        assert img['levels'] == ['entity', 'relation']
        assert img['source'] == 'psg'
        rec = src[psg_id]
        ids = rgb2id(
            np.asarray(
                Image.open(osp.join(SAMPLE,
                                    rec['pan_seg_file_name'])).convert('RGB')))
        anns = [a for a in data['annotations'] if a['image_id'] == img['id']]
        by_seg = {
            a['source_segment_id']: a
            for a in anns if a['level'] == 'entity'
        }
        for seg in rec['segments_info']:
            if seg['id'] not in by_seg:
                assert seg['id'] == 1  # the segment absent from the PNG
                continue
            ann = by_seg[seg['id']]
            np.testing.assert_array_equal(
                decode_rle(ann['segmentation']), ids == seg['id'])
            assert ann['category_id'] == seg['category_id']  # PSG's 0-based
            assert ann['iscrowd'] == seg['iscrowd']
        ent_of = {
            a['id']: a['source_segment_id']
            for a in anns if a['level'] == 'entity'
        }
        rels = [a for a in anns if a['level'] == 'relation']
        kept = {
            (ent_of[r['entity_ids'][0]], ent_of[r['entity_ids'][1]]):
            r['predicates']
            for r in rels
        }
        segs = rec['segments_info']
        expected = {}
        wanted = {'40001': [0, 3, 4], '40002': [0]}[psg_id]
        for k in wanted:
            s, o, p = rec['relations'][k]
            expected[(segs[s]['id'], segs[o]['id'])] = [
                json.load(open(PSG))['predicate_classes'][p]
            ]
        if psg_id == '40001':
            # the reversed duplicate adds its predicate to the kept pair
            first = list(expected)[0]
            expected[first] = ['standing on', 'on']
        assert kept == expected
        for r in rels:
            assert r['iscrowd'] == 0
            assert r['predicate'] == r['predicates'][0]


def test_touch_check_drops_far_pairs(tmp_path):
    report = convert_psg(PSG, SAMPLE, _out(tmp_path), touch_px=1)
    counts = check_report(report)
    assert counts['relations']['kept'] == 3
    assert counts['relations']['skipped']['masks_do_not_touch'] == 1


def test_custom_predicates_and_levels(tmp_path):
    out = _out(tmp_path)
    report = convert_psg(PSG, SAMPLE, out, predicates=['beside'])
    data = check_hierarchical_file(out)
    counts = check_report(report)
    assert counts['relations']['kept'] == 1
    levels = {i['source_image_id']: i['levels'] for i in data['images']}
    # no relation kept: the relation level is not claimed
    assert levels == {'40001': ['entity', 'relation'], '40002': ['entity']}
    assert report.stats['images_without_kept_relation'] == 1


def test_split_selection(tmp_path):
    out = _out(tmp_path)
    report = convert_psg(PSG, SAMPLE, out, split='train')
    counts = check_report(report)
    assert counts['images'] == dict(
        read=2, kept=1, skipped=dict(not_in_split=1))
    assert counts['relations']['skipped']['image_skipped'] == 3
    assert [i['source_image_id']
            for i in json.load(open(out))['images']] == ['40001']


def test_multiprocess_equals_single(tmp_path):
    one, two = _out(tmp_path, 'one.json'), _out(tmp_path, 'two.json')
    convert_psg(PSG, SAMPLE, one, nproc=1)
    convert_psg(PSG, SAMPLE, two, nproc=2)
    assert json.load(open(one)) == json.load(open(two))


@pytest.mark.parametrize('case,match', [
    ('subject_range', "image_id '40001': relation #0 .*out of range"),
    ('predicate_range', "image_id '40001': relation #0 .*predicate index 56"),
    ('malformed', "image_id '40001': relation #0 .*not \\[subject_idx"),
    ('coco_id', "image_id '40001': coco_image_id 'abc'"),
    ('missing_png', "image_id '40002'.*000000439180.png.*does not exist"),
    ('duplicate', "image_id '40001' occurs twice"),
])
def test_bad_input_errors(tmp_path, case, match):
    data = json.load(open(PSG))
    rec = data['data'][0]
    if case == 'subject_range':
        rec['relations'][0][0] = 99
    elif case == 'predicate_range':
        rec['relations'][0][2] = 56
    elif case == 'malformed':
        rec['relations'][0] = [0, 1]
    elif case == 'coco_id':
        rec['coco_image_id'] = 'abc'
    elif case == 'missing_png':
        data['data'][1]['pan_seg_file_name'] = 'panoptic_val2017/' \
            '000000439180.png'
    elif case == 'duplicate':
        data['data'].append(dict(rec))
    path = tmp_path / 'bad.json'
    json.dump(data, open(path, 'w'))
    with pytest.raises(ConversionError, match=match):
        convert_psg(str(path), SAMPLE, str(tmp_path / 'o.json'))


def test_record_without_relations_key_is_counted(tmp_path):
    data = json.load(open(PSG))
    del data['data'][0]['relations']
    path = tmp_path / 'no_rel.json'
    json.dump(data, open(path, 'w'))
    report = convert_psg(str(path), SAMPLE, _out(tmp_path))
    assert report.stats['records_without_relations'] == 1
    assert any('no "relations" key' in note for note in report.notes)


def test_unknown_predicate_name_is_an_error(tmp_path):
    with pytest.raises(ConversionError, match="unknown predicate.*'hugging'"):
        convert_psg(PSG, SAMPLE, _out(tmp_path), predicates=['hugging'])
