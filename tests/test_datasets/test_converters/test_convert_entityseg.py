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


def test_low_and_full_resolution_files_are_both_evaluable(tmp_path):
    """EntitySeg ships every annotation twice: ``_lr`` (short side 800)
    and full resolution. Here the fixture plays the ``_lr`` file and its
    x2 nearest-neighbour upsampling the full-resolution one; both convert,
    and the same predictions, at each file's size, score the same AP and
    AP^e (IoUs do not change under an exact x2 upsampling)."""
    from mmaims.evaluation.functional import (FederatedGroundTruth,
                                              evaluate_federated,
                                              group_predictions)
    from mmaims.structures import encode_mask
    src = json.load(open(ANN))
    high = json.loads(json.dumps(src))
    sizes = {img['id']: (img['height'], img['width']) for img in src['images']}
    for img in high['images']:
        img['height'], img['width'] = img['height'] * 2, img['width'] * 2
    for ann in high['annotations']:
        if not ann.get('segmentation'):
            continue
        mask = decode_rle(to_rle(ann['segmentation'], *sizes[ann['image_id']]))
        ann['segmentation'] = encode_mask(mask.repeat(2, 0).repeat(2, 1))
        if 'bbox' in ann:
            ann['bbox'] = [v * 2 for v in ann['bbox']]
        if 'area' in ann:
            ann['area'] = ann['area'] * 4
    high_ann = tmp_path / 'entityseg_sample_hr.json'
    high_ann.write_text(json.dumps(high))
    results = []
    for ann_file, factor in ((ANN, 1), (str(high_ann), 2)):
        out = str(tmp_path / f'es_{factor}.json')
        convert_entityseg(ann_file, out, img_prefix='entityseg/')
        gt_dict = json.load(open(out))
        gt = FederatedGroundTruth(gt_dict)
        # predictions: each GT entity shifted by 4 (low-res) pixels, and
        # random scores; the same at both resolutions
        rng = np.random.default_rng(0)
        masks = []
        for i, ann in enumerate(gt_dict['annotations']):
            mask = np.roll(decode_rle(ann['segmentation']), 4 * factor, 1)
            masks.append(
                dict(
                    id=i + 1,
                    image_id=ann['image_id'],
                    level='entity',
                    segmentation=encode_mask(mask),
                    score=float(rng.random())))
        results.append(
            evaluate_federated(gt, group_predictions(dict(masks=masks))))
    low, full = results
    for key in ('entity_mAP', 'entity_mAP_nonoverlap',
                'entity_mAP_nonoverlap_50', 'entity_mAP_nonoverlap_75'):
        assert 0 < low[key] < 1
        assert full[key] == pytest.approx(low[key], abs=1e-12), key
