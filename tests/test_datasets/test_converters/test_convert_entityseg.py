# Copyright (c) mmaims contributors. All rights reserved.
import json
import os.path as osp

import numpy as np
import pytest
from converter_checks import DATA, check_hierarchical_file, check_report
from PIL import Image

from mmaims.datasets.converters import ConversionError, convert_entityseg
from mmaims.structures import decode_rle, merge_rles, to_rle

ANN = osp.join(DATA, 'entityseg', 'entityseg_sample.json')


def test_convert_entityseg_fixture(tmp_path):
    out = str(tmp_path / 'es.json')
    report = convert_entityseg(ANN, out, img_prefix='entityseg/')
    data = check_hierarchical_file(out)
    src = json.load(open(ANN))
    counts = check_report(report)
    assert counts['images'] == dict(read=4, kept=3, skipped=dict(no_entity=1))
    assert counts['annotations'] == dict(
        read=54, kept=52, skipped=dict(empty_mask=1, empty_segmentation=1))
    # iscrowd is absent on every non-crowd source annotation
    assert report.stats['iscrowd_missing'] == 47 + 1
    assert report.stats['crowd_annotations'] == 3
    assert report.stats['coco_images'] == 2

    images = {img['id']: img for img in data['images']}
    assert images[142238]['coco_image_id'] == 142238
    assert 'coco_image_id' not in images[900001]
    assert images[142238]['file_name'] == \
        'entityseg/entity_01_11580/coco_000000142238.jpg'
    for img in images.values():
        assert img['levels'] == ['entity']
        assert img['source'] == 'entityseg'
    by_source = {a['source_ann_id']: a for a in data['annotations']}
    for src_ann in src['annotations']:
        if src_ann['id'] not in by_source:
            continue
        ann = by_source[src_ann['id']]
        img = images[src_ann['image_id']]
        expected = to_rle(src_ann['segmentation'], img['height'], img['width'])
        np.testing.assert_array_equal(
            decode_rle(ann['segmentation']), decode_rle(expected))
        assert ann['category_id'] == 1
        assert 'category_id_ori' not in ann
        assert ann['iscrowd'] == src_ann.get('iscrowd', 0)
    # the polygon and the RLE of image 900001 overlap
    poly, box = (
        decode_rle(a['segmentation']) for a in data['annotations']
        if a['image_id'] == 900001)
    assert report.stats['overlap_pixels'] == (poly & box).sum() > 0
    # unlabeled pixels are ignored: valid_region = union of the masks
    for img_id, img in images.items():
        union = merge_rles([
            a['segmentation'] for a in data['annotations']
            if a['image_id'] == img_id
        ])
        np.testing.assert_array_equal(
            decode_rle(img['valid_region']), decode_rle(union))


def _edited(tmp_path, edit):
    data = json.load(open(ANN))
    edit(data)
    path = str(tmp_path / 'edited_lr.json')
    json.dump(data, open(path, 'w'))
    return path


def test_rle_size_mismatch_names_lr(tmp_path):

    def edit(data):
        # as if a full-resolution JSON's images were the _lr ones
        data['images'][0]['height'] = 800

    with pytest.raises(ConversionError, match='annotation id 1 .*_lr'):
        convert_entityseg(_edited(tmp_path, edit), str(tmp_path / 'o.json'))


@pytest.mark.parametrize('case,match', [
    ('unknown_image', 'annotation id 1 names image id 5'),
    ('duplicate_ann', 'annotation id 1 occurs twice'),
    ('bad_segmentation', 'annotation id 1 .*bad segmentation'),
])
def test_bad_input_errors(tmp_path, case, match):

    def edit(data):
        if case == 'unknown_image':
            data['annotations'][0]['image_id'] = 5
        elif case == 'duplicate_ann':
            data['annotations'].append(dict(data['annotations'][0]))
        else:
            data['annotations'][0]['segmentation'] = dict(foo=1)

    with pytest.raises(ConversionError, match=match):
        convert_entityseg(_edited(tmp_path, edit), str(tmp_path / 'o.json'))


def test_image_dir_size_check(tmp_path):
    src = json.load(open(ANN))
    for img in src['images']:
        path = tmp_path / 'imgs' / img['file_name']
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new('RGB', (img['width'], img['height'])).save(path)
    out = str(tmp_path / 'es.json')
    convert_entityseg(ANN, out, img_dir=str(tmp_path / 'imgs'))
    # a high-resolution image paired with the low-resolution JSON
    big = tmp_path / 'imgs' / src['images'][1]['file_name']
    Image.new('RGB', (1280, 854)).save(big)
    with pytest.raises(ConversionError, match='image id 439180.*1280x854'):
        convert_entityseg(ANN, out, img_dir=str(tmp_path / 'imgs'))
    big.unlink()
    with pytest.raises(ConversionError, match='does not exist'):
        convert_entityseg(ANN, out, img_dir=str(tmp_path / 'imgs'))
