# Copyright (c) mmaims contributors. All rights reserved.
import json
import os.path as osp
import shutil

import numpy as np
import pytest
from converter_checks import SAMPLE, check_hierarchical_file, check_report
from PIL import Image

from mmaims.datasets.converters import (ConversionError, convert_coco_panoptic,
                                        report_path, rgb2id)
from mmaims.structures import decode_rle

ANN = osp.join(SAMPLE, 'panoptic_examples.json')
PNG_DIR = osp.join(SAMPLE, 'panoptic_examples')


def _png_ids(name):
    return rgb2id(np.asarray(Image.open(osp.join(PNG_DIR, name))))


def test_rgb2id_matches_panopticapi_formula():
    color = np.array([[[1, 2, 3], [255, 0, 0]]], np.uint8)
    np.testing.assert_array_equal(
        rgb2id(color), [[1 + 256 * 2 + 65536 * 3, 255]])


def test_acceptance_panopticapi_sample(tmp_path):
    out = str(tmp_path / 'coco.json')
    report = convert_coco_panoptic(ANN, PNG_DIR, out, img_prefix='val2017/')
    data = check_hierarchical_file(out)
    source = json.load(open(ANN))
    expected = {142238: (17, 1), 439180: (30, 2)}
    for record in source['annotations']:
        img_id = record['image_id']
        anns = [a for a in data['annotations'] if a['image_id'] == img_id]
        crowd = sum(a['iscrowd'] for a in anns)
        assert (len(anns) - crowd, crowd) == expected[img_id]
        ids = _png_ids(record['file_name'])
        by_seg = {a['source_segment_id']: a for a in anns}
        for seg in record['segments_info']:
            ann = by_seg[seg['id']]
            # pixel-for-pixel equal to the PNG segment
            np.testing.assert_array_equal(
                decode_rle(ann['segmentation']), ids == seg['id'])
            assert ann['area'] == seg['area']
            assert ann['iscrowd'] == seg['iscrowd']
            assert ann['category_id'] == seg['category_id']
            assert ann['level'] == 'entity'
        img = next(i for i in data['images'] if i['id'] == img_id)
        assert img['levels'] == ['entity']
        assert img['source'] == 'coco'
        assert img['coco_image_id'] == img_id
        assert img['file_name'].startswith('val2017/')
        # VOID pixels lie outside the valid region, everything else inside
        np.testing.assert_array_equal(
            decode_rle(img['valid_region']), ids != 0)
    counts = check_report(report)
    assert counts['images'] == dict(read=2, kept=2, skipped={})
    assert counts['segments'] == dict(read=50, kept=50, skipped={})
    assert report.stats['crowd_segments'] == 3
    assert report.stats['void_pixels'] == int(
        (_png_ids('000000142238.png') == 0).sum() +
        (_png_ids('000000439180.png') == 0).sum())
    assert json.load(open(report_path(out))) == report.to_dict()


def test_stuff_segment_disconnected_stays_one_entity(tmp_path):
    # Stuff segments of the sample span several connected components.
    import cv2
    out = str(tmp_path / 'coco.json')
    convert_coco_panoptic(ANN, PNG_DIR, out)
    data = json.load(open(out))
    multi = 0
    for ann in data['annotations']:
        num, _ = cv2.connectedComponents(
            decode_rle(ann['segmentation']).astype(np.uint8))
        multi += num - 1 > 1
    assert multi > 0


def test_multiprocess_equals_single(tmp_path):
    one, two = str(tmp_path / 'one.json'), str(tmp_path / 'two.json')
    convert_coco_panoptic(ANN, PNG_DIR, one, nproc=1)
    convert_coco_panoptic(ANN, PNG_DIR, two, nproc=2)
    assert json.load(open(one)) == json.load(open(two))


def _edited(tmp_path, edit):
    data = json.load(open(ANN))
    edit(data)
    path = str(tmp_path / 'edited.json')
    json.dump(data, open(path, 'w'))
    return path


def test_skip_reasons(tmp_path):

    def edit(data):
        # an image without panoptic annotation
        data['images'].append(
            dict(id=1, file_name='x.jpg', height=10, width=10))
        rec = data['annotations'][0]
        # a segment that has no pixel in the PNG
        rec['segments_info'].append(
            dict(id=5, category_id=1, iscrowd=0, area=0, bbox=[0, 0, 0, 0]))
        rec['segments_info'][0]['area'] += 1
        # an image whose segments_info is empty
        data['images'].append(
            dict(id=2, file_name='y.jpg', height=10, width=10))
        data['annotations'].append(
            dict(image_id=2, file_name='y.png', segments_info=[]))

    out = str(tmp_path / 'out.json')
    report = convert_coco_panoptic(_edited(tmp_path, edit), PNG_DIR, out)
    counts = check_report(report)
    assert counts['images'] == dict(
        read=4, kept=2, skipped=dict(no_panoptic_annotation=1, no_segments=1))
    assert counts['segments'] == dict(
        read=51, kept=50, skipped=dict(empty_mask=1))
    assert report.stats['segment_area_differs_from_png'] == 1
    check_hierarchical_file(out)


def test_image_with_only_crowd_is_skipped(tmp_path):

    def edit(data):
        rec = data['annotations'][0]
        for seg in rec['segments_info']:
            seg['iscrowd'] = 1

    out = str(tmp_path / 'out.json')
    report = convert_coco_panoptic(_edited(tmp_path, edit), PNG_DIR, out)
    counts = check_report(report)
    assert counts['images']['skipped'] == dict(no_entity=1)
    assert counts['segments']['skipped'] == dict(image_skipped=18)
    assert len(json.load(open(out))['images']) == 1


def test_missing_png_is_an_error(tmp_path):
    png_dir = tmp_path / 'pngs'
    png_dir.mkdir()
    shutil.copy(osp.join(PNG_DIR, '000000142238.png'), png_dir)
    with pytest.raises(ConversionError, match='000000439180.png'):
        convert_coco_panoptic(ANN, str(png_dir), str(tmp_path / 'o.json'))


def test_png_segment_missing_from_json_is_an_error(tmp_path):

    def edit(data):
        data['annotations'][0]['segments_info'].pop(0)

    with pytest.raises(ConversionError, match='image id 142238.*3937500'):
        convert_coco_panoptic(
            _edited(tmp_path, edit), PNG_DIR, str(tmp_path / 'o.json'))


@pytest.mark.parametrize('case,match', [
    ('size', 'image record says'),
    ('unknown_image', 'not in images'),
    ('duplicate_segment', 'occurs twice'),
    ('void_segment', 'id 0'),
    ('two_records', 'two panoptic annotations'),
])
def test_bad_input_errors(tmp_path, case, match):

    def edit(data):
        if case == 'size':
            data['images'][0]['height'] += 1
        elif case == 'unknown_image':
            data['annotations'][0]['image_id'] = 7
        elif case == 'duplicate_segment':
            segs = data['annotations'][0]['segments_info']
            segs.append(dict(segs[0]))
        elif case == 'void_segment':
            data['annotations'][0]['segments_info'][0]['id'] = 0
        elif case == 'two_records':
            data['annotations'].append(dict(data['annotations'][0]))

    with pytest.raises(ConversionError, match=match):
        convert_coco_panoptic(
            _edited(tmp_path, edit), PNG_DIR, str(tmp_path / 'o.json'))
