# Copyright (c) mmaims contributors. All rights reserved.
import json
import os.path as osp

import numpy as np
import pytest
from converter_checks import DATA, check_hierarchical_file, check_report

from mmaims.datasets.converters import ConversionError, convert_paco
from mmaims.structures import decode_rle, to_rle

ANN = osp.join(DATA, 'paco', 'paco_sample.json')


def test_fixture_uses_real_paco_categories():
    cats = json.load(open(ANN))['categories']
    names = {c['id']: c['name'] for c in cats}
    assert names[207] == 'car_(automobile)'
    assert names[2000] == 'car_(automobile):antenna'
    assert all((':' in n) == (i >= 2000) for i, n in names.items())
    forms = {
        type(a['segmentation']).__name__ +
        (type(a['segmentation'].get('counts')).__name__ if isinstance(
            a['segmentation'], dict) else '')
        for a in json.load(open(ANN))['annotations']
    }
    # polygons, uncompressed RLE (list counts), compressed RLE (str counts)
    assert forms == {'list', 'dictlist', 'dictstr'}


def test_convert_paco_fixture(tmp_path):
    out = str(tmp_path / 'paco.json')
    report = convert_paco(ANN, out)
    data = check_hierarchical_file(out)
    counts = check_report(report)
    assert counts['images'] == dict(
        read=3, kept=2, skipped=dict(no_annotation=1))
    assert counts['objects'] == dict(
        read=5, kept=2, skipped=dict(empty_segmentation=2, empty_mask=1))
    assert counts['parts'] == dict(
        read=8,
        kept=5,
        skipped=dict(
            empty_segmentation=1, degenerate_polygon=1, object_skipped=1))
    assert report.stats['coco_images'] == 2

    src = {a['id']: a for a in json.load(open(ANN))['annotations']}
    images = {i['id']: i for i in data['images']}
    for img in images.values():
        # objects are not exhaustive: no level may be claimed
        assert img['levels'] == []
        assert img['source'] == 'paco'
        assert img['coco_image_id'] == img['id']
    anns = {a['source_ann_id']: a for a in data['annotations']}
    assert sorted(anns) == [11, 12, 13, 14, 21, 22, 23]
    for sid, ann in anns.items():
        img = images[ann['image_id']]
        expected = to_rle(src[sid]['segmentation'], img['height'],
                          img['width'])
        np.testing.assert_array_equal(
            decode_rle(ann['segmentation']), decode_rle(expected))
        assert ann['category_id'] == src[sid]['category_id']
        if sid in (11, 21):
            assert ann['level'] == 'entity'
        else:
            assert ann['level'] == 'part'
            parent = anns[src[sid]['obj_ann_id']]
            assert ann['entity_id'] == parent['id']

    def mask(sid):
        return decode_rle(anns[sid]['segmentation'])

    outside = sum(
        int((mask(p) & ~mask(o)).sum())
        for o, ps in ((11, (12, 13, 14)), (21, (22, 23))) for p in ps)
    assert report.stats['part_pixels_outside_object'] == outside > 0
    # bumper and headlight overlap; no other pair does
    assert (mask(12) & mask(13)).any()
    assert report.stats['overlapping_part_pairs'] == 1


def test_lvis_v1_image_without_file_name_uses_coco_url(tmp_path):
    data = json.load(open(ANN))
    img = data['images'][0]
    del img['file_name']
    img['coco_url'] = 'http://images.cocodataset.org/val2017/000000142238.jpg'
    path = tmp_path / 'lvis_v1_style.json'
    json.dump(data, open(path, 'w'))
    out = str(tmp_path / 'o.json')
    convert_paco(str(path), out)
    images = {i['id']: i for i in json.load(open(out))['images']}
    assert images[142238]['file_name'] == 'val2017/000000142238.jpg'
    assert images[142238]['coco_image_id'] == 142238


@pytest.mark.parametrize('case,match', [
    ('dangling_part', 'annotation id 12: part\'s obj_ann_id 999 names no'),
    ('part_of_part', 'annotation id 13: part\'s obj_ann_id 12 names another'),
    ('object_link', 'annotation id 11: object .* obj_ann_id 21'),
    ('other_image', 'annotation id 22: part of image 439180 names object 11'),
    ('unknown_category', 'annotation id 11: category id 5'),
    ('unknown_image', 'annotation id 11: image id 3'),
    ('missing_obj_ann_id', r"annotation id 11: missing key\(s\) \['obj_ann"),
    ('bad_segmentation', 'annotation id 21 .*bad segmentation'),
    ('duplicate', 'annotation id 11 occurs twice'),
])
def test_bad_input_errors(tmp_path, case, match):
    data = json.load(open(ANN))
    anns = {a['id']: a for a in data['annotations']}
    if case == 'dangling_part':
        anns[12]['obj_ann_id'] = 999
    elif case == 'part_of_part':
        anns[13]['obj_ann_id'] = 12
    elif case == 'object_link':
        anns[11]['obj_ann_id'] = 21
    elif case == 'other_image':
        anns[22]['obj_ann_id'] = 11
    elif case == 'unknown_category':
        anns[11]['category_id'] = 5
    elif case == 'unknown_image':
        anns[11]['image_id'] = 3
    elif case == 'missing_obj_ann_id':
        del anns[11]['obj_ann_id']
    elif case == 'bad_segmentation':
        anns[21]['segmentation'] = dict(size=[1, 1])
    elif case == 'duplicate':
        data['annotations'].append(dict(anns[11]))
    path = tmp_path / 'bad.json'
    json.dump(data, open(path, 'w'))
    with pytest.raises(ConversionError, match=match):
        convert_paco(str(path), str(tmp_path / 'o.json'))
