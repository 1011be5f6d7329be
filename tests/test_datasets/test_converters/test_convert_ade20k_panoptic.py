# Copyright (c) mmaims contributors. All rights reserved.
"""ADE20K panoptic -> entity level (docs/converters.md section 7).

The fixture is made here, from small label arrays, the way Mask2Former's
``datasets/prepare_ade20k_pan_seg.py`` makes ``ade20k_panoptic_{split}.json``
and its PNGs from ADEChallengeData2016: images keyed by their file stem
(a string id), 0-based category ids of the 150-class list with ``isthing``
and ``color`` (the real ids, names and colours below), stuff pasted first
from the semantic map with its ``area`` counted before the things are
pasted over it from the instance map, the first instance of a class in
the class colour and later ones in a nearby colour, unlabeled pixels (and
thing-class pixels without an instance) left 0 (VOID), ``iscrowd`` 0.
The panopticapi sample (tests/data/converters/panopticapi) is the same
format with COCO's ids; the COCO panoptic tests use it.
"""
import json
import os
import os.path as osp
import runpy

import numpy as np
import pytest
from converter_checks import check_hierarchical_file, check_report
from PIL import Image

from mmaims.datasets.converters import (ConversionError, ade20k_image_id,
                                        convert_ade20k_panoptic, report_path,
                                        rgb2id)
from mmaims.structures import decode_rle
from mmaims.structures.annotations import parse_annotations

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..'))

# (id, name, isthing, colour) as in Mask2Former's ADE20K_150_CATEGORIES
# and the palette of prepare_ade20k_pan_seg.py
CATEGORIES = [(0, 'wall', 0, (120, 120, 120)), (2, 'sky', 0, (6, 230, 230)),
              (3, 'floor', 0, (80, 50, 50)),
              (6, 'road, route', 0, (140, 140, 140)),
              (12, 'person', 1, (150, 5, 61)), (19, 'chair', 1, (204, 70, 3)),
              (20, 'car', 1, (0, 102, 200)), (28, 'rug', 0, (255, 9, 92)),
              (48, 'skyscraper', 0, (140, 140, 200))]
# mmdet's ade20k2coco.py palette gives skyscraper road's colour
MMDET_SKYSCRAPER = (140, 140, 140)
WALL, SKY, FLOOR, ROAD, PERSON, CHAIR, CAR, RUG, SKYSCRAPER = (
    c[0] for c in CATEGORIES)
ISTHING = {c[0]: c[2] for c in CATEGORIES}


def _scene_1():
    """Indoor, 12 x 16: VOID column, wall over floor, a person across both,
    a chair covering the whole rug, chair pixels without an instance."""
    sem = np.full((12, 16), -1)  # -1: unlabeled (ADE's 0)
    sem[:6, 1:], sem[6:, 1:] = WALL, FLOOR
    sem[9:11, 10:14] = RUG
    sem[3:5, 1:3] = CHAIR  # thing class, no instance: VOID
    ins = [(PERSON, (slice(2, 10), slice(4, 7))),
           (CHAIR, (slice(8, 12), slice(9, 15)))]
    return sem, ins


def _scene_2():
    """Street, 10 x 12: sky, a skyscraper, a road with two cars."""
    sem = np.full((10, 12), ROAD)
    sem[:6], sem[:6, 8:] = SKY, SKYSCRAPER
    left, right = (slice(7, 9), slice(1, 4)), (slice(6, 9), slice(6, 10))
    return sem, [(CAR, left), (CAR, right)]


def _scene_3():
    """4 x 4, all unlabeled: an empty segments_info."""
    return np.full((4, 4), -1), []


def make_ade20k(root,
                split='val',
                jpg_records=False,
                mmdet_palette=False,
                scenes=(_scene_1, _scene_2, _scene_3)):
    """Write ``ade20k_panoptic_{split}.json`` and its PNG folder in
    ``root``; return ``(json path, png dir, {stem: segment ids})``."""
    colours = {c[0]: c[3] for c in CATEGORIES}
    if mmdet_palette:
        colours[SKYSCRAPER] = MMDET_SKYSCRAPER
    png_dir = root / f'ade20k_panoptic_{split}'
    png_dir.mkdir(parents=True)
    images, records, ids = [], [], {}
    for index, scene in enumerate(scenes, 1):
        stem = f'ADE_{split}_{index:08d}'
        sem, instances = scene()
        pan = np.zeros(sem.shape + (3, ), np.uint8)
        segments = []
        for cat in np.unique(sem):
            if cat < 0 or ISTHING[cat]:
                continue
            mask = sem == cat
            pan[mask] = colours[cat]
            segments.append(
                dict(
                    id=int(rgb2id(np.array(colours[cat]))),
                    category_id=int(cat),
                    area=int(mask.sum()),
                    iscrowd=0))
        used = set()
        for cat, box in instances:
            colour = np.array(colours[cat])
            while tuple(colour) in used:  # later instances: a nearby colour
                colour[2] += 1
            used.add(tuple(colour))
            mask = np.zeros(sem.shape, bool)
            mask[box] = True
            pan[mask] = colour
            segments.append(
                dict(
                    id=int(rgb2id(colour)),
                    category_id=cat,
                    area=int(mask.sum()),
                    iscrowd=0))
        Image.fromarray(pan).save(str(png_dir / f'{stem}.png'))
        ids[stem] = rgb2id(pan)
        images.append(
            dict(
                id=stem,
                file_name=f'{stem}.jpg',
                height=sem.shape[0],
                width=sem.shape[1]))
        records.append(
            dict(
                image_id=stem,
                file_name=f'{stem}.jpg' if jpg_records else f'{stem}.png',
                segments_info=segments))
    categories = [
        dict(id=i, name=name, isthing=thing, color=list(colours[i]))
        for i, name, thing, _ in CATEGORIES
    ]
    ann_file = root / f'ade20k_panoptic_{split}.json'
    ann_file.write_text(
        json.dumps(
            dict(images=images, annotations=records, categories=categories)))
    return str(ann_file), str(png_dir), ids


@pytest.fixture
def ade(tmp_path):
    return make_ade20k(tmp_path / 'ADEChallengeData2016')


def _edited(ann_file, edit):
    data = json.load(open(ann_file))
    edit(data)
    with open(ann_file, 'w') as f:
        json.dump(data, f)
    return ann_file


def test_segments_become_entities(ade, tmp_path):
    ann_file, png_dir, ids = ade
    out = str(tmp_path / 'ade20k_val.json')
    report = convert_ade20k_panoptic(
        ann_file, png_dir, out, img_prefix='images/validation/')
    data = check_hierarchical_file(out)
    source = json.load(open(ann_file))
    assert data['categories'] == source['categories']
    assert [img['source_image_id'] for img in data['images']
            ] == ['ADE_val_00000001', 'ADE_val_00000002']
    for img in data['images']:
        stem = img['source_image_id']
        assert img['id'] == int(stem[-8:])
        assert img['file_name'] == f'images/validation/{stem}.jpg'
        assert img['levels'] == ['entity']
        assert img['source'] == 'ade20k'
        assert img['source_split'] == 'val'
        assert 'coco_image_id' not in img
        record = next(r for r in source['annotations']
                      if r['image_id'] == stem)
        anns = {
            a['source_segment_id']: a
            for a in data['annotations'] if a['image_id'] == img['id']
        }
        for seg in record['segments_info']:
            mask = ids[stem] == seg['id']
            if not mask.any():  # the rug, covered by the chair
                assert seg['id'] not in anns
                continue
            ann = anns.pop(seg['id'])
            np.testing.assert_array_equal(
                decode_rle(ann['segmentation']), mask)
            assert ann['area'] == int(mask.sum())
            assert ann['category_id'] == seg['category_id']
            assert ann['iscrowd'] == 0
            assert ann['level'] == 'entity'
        assert not anns
        # VOID (unlabeled, and thing pixels without instance) is outside
        if (ids[stem] == 0).any():
            np.testing.assert_array_equal(
                decode_rle(img['valid_region']), ids[stem] != 0)
        else:
            assert 'valid_region' not in img
    # stuff keeps category 0 (wall) and things their 0-based ids
    kept = {a['category_id'] for a in data['annotations']}
    assert kept == {WALL, SKY, FLOOR, ROAD, PERSON, CHAIR, CAR, SKYSCRAPER}

    counts = check_report(report)
    assert counts['images'] == dict(
        read=3, kept=2, skipped=dict(no_segments=1))
    assert counts['segments'] == dict(
        read=10, kept=9, skipped=dict(empty_mask=1))
    assert report.stats['thing_segments'] == 4
    assert report.stats['stuff_segments'] == 5
    # scene 1 only: the all-VOID scene 3 is skipped before its PNG is read
    assert report.stats['void_pixels'] == 12 + 4
    # wall and floor under the person, road under the cars
    assert report.stats['segment_area_differs_from_png'] == 3
    assert report.stats['crowd_segments'] == 0
    assert 'png_name_from_jpg' not in report.stats
    assert json.load(open(report_path(out))) == report.to_dict()


def test_parses_as_hierarchical_coco(ade, tmp_path):
    """The one parser of the datasets and the evaluator accepts the file."""
    out = str(tmp_path / 'ade20k_val.json')
    convert_ade20k_panoptic(*ade[:2], out)
    records = parse_annotations(json.load(open(out)), out)
    assert [(r.id, r.source, r.levels, len(r.annotations))
            for r in records] == [(1, 'ade20k', ['entity'], 4),
                                  (2, 'ade20k', ['entity'], 5)]
    assert records[0].valid_region is not None
    assert records[1].valid_region is None


def test_same_input_same_bytes(tmp_path):
    outs = []
    for run, nproc in (('a', 1), ('b', 2)):
        ann_file, png_dir, _ = make_ade20k(tmp_path / run)
        outs.append(str(tmp_path / run / 'out.json'))
        convert_ade20k_panoptic(ann_file, png_dir, outs[-1], nproc=nproc)
    for one, two in (outs, [report_path(o) for o in outs]):
        assert open(one, 'rb').read() == open(two, 'rb').read()


def test_mmdet_layout_jpg_records(tmp_path):
    """mmdet's ade20k2coco.py names the JPEG in the records."""
    m2f = make_ade20k(tmp_path / 'm2f')
    mmdet = make_ade20k(tmp_path / 'mmdet', jpg_records=True)
    out_m2f, out_mmdet = str(tmp_path / 'a.json'), str(tmp_path / 'b.json')
    convert_ade20k_panoptic(*m2f[:2], out_m2f)
    report = convert_ade20k_panoptic(*mmdet[:2], out_mmdet)
    assert report.stats['png_name_from_jpg'] == 3
    assert 'name the JPEG' in report.notes[0]
    first, second = json.load(open(out_m2f)), json.load(open(out_mmdet))
    assert first['annotations'] == second['annotations']
    assert first['images'] == second['images']


def test_mmdet_palette_shared_segment_id_is_an_error(tmp_path):
    ann_file, png_dir, _ = make_ade20k(tmp_path, mmdet_palette=True)
    with pytest.raises(
            ConversionError,
            match='image \'ADE_val_00000002\': segment id 9211020 occurs 2 '
            'times.*skyscraper.*prepare_ade20k_pan_seg.py'):
        convert_ade20k_panoptic(ann_file, png_dir, str(tmp_path / 'o.json'))


@pytest.mark.parametrize('case,match', [
    ('png_size', 'image "ADE_val_00000001": panoptic PNG .* image record '
     'says 16x13'),
    ('segment_missing_from_json', 'image "ADE_val_00000001": PNG '
     '"ADE_val_00000001.png" has segment id\\(s\\) \\[3999126\\] that are '
     'not in segments_info'),
    ('missing_png', 'image "ADE_val_00000002": panoptic PNG '
     '".*ADE_val_00000002.png" .* does not exist'),
    ('unknown_category', 'image "ADE_val_00000002": segment id 15132166 has '
     'category_id 999, which is not in categories'),
    ('bad_image_id', "image id 'ADE_00000001' is neither"),
    ('train_and_val', "'ADE_val_00000001' and 'ADE_train_00000001' both "
     'have id 1; convert the ADE20K train and val files separately'),
    ('unknown_image', "names image id 'ADE_val_00000009', which is not in "
     'images'),
])
def test_bad_input_errors(ade, tmp_path, case, match):
    ann_file, png_dir, _ = ade

    def edit(data):
        if case == 'png_size':
            data['images'][0]['height'] += 1
        elif case == 'segment_missing_from_json':
            segs = data['annotations'][0]['segments_info']
            segs[:] = [s for s in segs if s['category_id'] != PERSON]
        elif case == 'missing_png':
            os.remove(osp.join(png_dir, 'ADE_val_00000002.png'))
        elif case == 'unknown_category':
            data['annotations'][1]['segments_info'][0]['category_id'] = 999
        elif case == 'bad_image_id':
            data['images'][0]['id'] = 'ADE_00000001'
        elif case == 'train_and_val':
            data['images'][1]['id'] = 'ADE_train_00000001'
        elif case == 'unknown_image':
            data['annotations'][1]['image_id'] = 'ADE_val_00000009'

    with pytest.raises(ConversionError, match=match):
        convert_ade20k_panoptic(
            _edited(ann_file, edit), png_dir, str(tmp_path / 'o.json'))
    assert not osp.exists(str(tmp_path / 'o.json'))


@pytest.mark.parametrize('name,expected', [
    ('ADE_train_00020210', (20210, 'train')),
    ('ADE_val_00000001', (1, 'val')),
    ('17', (17, None)),
    (17, (17, None)),
])
def test_ade20k_image_id(name, expected):
    assert ade20k_image_id(name, 'f.json') == expected


def test_cli(ade, tmp_path, capsys):
    main = runpy.run_path(
        osp.join(REPO, 'tools', 'dataset_converters', 'aims_convert.py'),
        run_name='aims_convert')['main']
    ann_file, png_dir, _ = ade
    out = str(tmp_path / 'ade20k_val.json')
    assert main([
        'ade20k-panoptic', ann_file, png_dir, '--img-prefix',
        'ADEChallengeData2016/images/validation/', '--out', out
    ]) == 0
    printed = capsys.readouterr().out
    assert 'Conversion report (ade20k)' in printed
    assert 'segments: read 10, kept 9, skipped 1' in printed
    assert json.load(open(out))['images'][0]['file_name'] == (
        'ADEChallengeData2016/images/validation/ADE_val_00000001.jpg')
    assert osp.isfile(report_path(out))
    assert main([
        'ade20k-panoptic', ann_file,
        str(tmp_path), '--out',
        str(tmp_path / 'x.json')
    ]) == 1
    assert 'image "ADE_val_00000001"' in capsys.readouterr().err
