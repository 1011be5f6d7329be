# Copyright (c) mmaims contributors. All rights reserved.
"""Regenerate the converter fixtures of this folder (deterministic).

Run from the repository root::

    python tests/data/converters/make_fixtures.py

Inputs: the panopticapi sample (``panopticapi/``, copied from
cocodataset/panopticapi with its license). Outputs: small files in the
real formats of EntitySeg, PPP, PACO and COCO-PSG (see README.md here).
"""
import json
import os
import os.path as osp

import numpy as np
import pycocotools.mask as mask_util
from PIL import Image

HERE = osp.dirname(osp.abspath(__file__))
SAMPLE = osp.join(HERE, 'panopticapi', 'sample_data')


def rgb2id(color):
    color = color.astype(np.uint32)
    return color[..., 0] + 256 * color[..., 1] + 256 * 256 * color[..., 2]


def rle(mask):
    r = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(size=list(r['size']), counts=r['counts'].decode('ascii'))


def rect(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def dump(obj, *path):
    with open(osp.join(HERE, *path), 'w') as f:
        json.dump(obj, f, indent=1)


# ----------------------------------------------------------------- EntitySeg
def make_entityseg():
    """EntitySeg layout from panopticapi's detection-format sample.

    Category fields as in the Adobe README (``category_id`` class-agnostic,
    ``category_id_ori`` a string); ``iscrowd`` dropped except on crowd
    segments; COCO images named ``coco_<id>.jpg``; one more (non-COCO) image
    with a polygon, an overlapping RLE, an empty and an all-zero mask; one
    image without annotations.
    """
    det = json.load(
        open(osp.join(SAMPLE, 'panoptic_coco_detection_format.json')))
    cats = {
        c['id']: c['name']
        for c in json.load(
            open(
                osp.join(HERE, 'panopticapi',
                         'panoptic_coco_categories.json')))
    }
    images = [
        dict(
            id=img['id'],
            file_name=f'entity_01_11580/coco_{img["id"]:012d}.jpg',
            height=img['height'],
            width=img['width'],
            img_source='coco') for img in det['images']
    ]
    anns = []
    for ann in det['annotations']:
        new = dict(
            id=len(anns) + 1,
            image_id=ann['image_id'],
            segmentation=ann['segmentation'],
            area=ann['area'],
            bbox=ann['bbox'],
            category_id=1,
            category_id_ori=cats[ann['category_id']])
        if ann['iscrowd']:
            new['iscrowd'] = 1
        anns.append(new)
    h, w = 48, 64
    images.append(
        dict(
            id=900001,
            file_name='entity_02_11598/img_000001.jpg',
            height=h,
            width=w,
            img_source='other'))
    images.append(
        dict(
            id=900002,
            file_name='entity_02_11598/img_000002.jpg',
            height=h,
            width=w,
            img_source='other'))
    poly = [[2.0, 2.0, 30.0, 2.0, 30.0, 20.0, 2.0, 20.0]]
    extra = [
        dict(segmentation=poly, iscrowd=0),
        dict(segmentation=rle(rect(h, w, 10, 40, 20, 60))),  # overlaps poly
        dict(segmentation={}),  # empty
        dict(segmentation=rle(np.zeros((h, w), bool))),  # all-zero mask
    ]
    for e in extra:
        anns.append(
            dict(
                id=len(anns) + 1,
                image_id=900001,
                area=0,
                bbox=[0, 0, 0, 0],
                category_id=1,
                category_id_ori='thing',
                **e))
    dump(
        dict(
            images=images,
            annotations=anns,
            categories=[dict(id=1, name='entity')]), 'entityseg',
        'entityseg_sample.json')


# ----------------------------------------------------------------------- PPP
def ppp_label_rich():
    """40 x 60 label with every case of the PPP uid encoding."""
    lab = np.zeros((40, 60), np.int32)
    lab[0:10, :] = 50  # stuff class 50 ...
    lab[35:40, :] = 50  # ... disconnected: still one entity
    lab[10:25, 55:60] = 25  # stuff class 25
    lab[30:35, 10:60] = 25
    # car (sid 7) instance 1: frontside (pid 1), door (pid 10), two wheels
    # (instance-wise pids 20 and 21) and part-unlabeled pixels (uid 7001).
    lab[10:25, 0:30] = 7_001
    lab[10:15, 0:30] = 7_001_01
    lab[15:20, 0:15] = 7_001_10
    lab[20:25, 0:10] = 7_001_20
    lab[20:25, 20:30] = 7_001_21
    # person (sid 15) instance 2: head (pid 1) and torso (pid 11).
    lab[10:15, 30:45] = 15_002_01
    lab[15:25, 30:45] = 15_002_11
    # chair (sid 9, no part taxonomy) instance 1.
    lab[10:25, 45:55] = 9_001
    # person pixels without an instance id: ignore (entity crowd).
    lab[25:30, 0:20] = 15
    # unlabeled (0) stays at rows 25-29, cols 20-39.
    lab[25:30, 40:50] = 500  # invalid (100-999)
    lab[25:30, 50:60] = 12_345_678  # invalid (> 9,999,999)
    lab[30:35, 0:10] = 50_003  # an instance id on a stuff class
    return lab


def ppp_label_person():
    lab = np.full((30, 40), 50, np.int32)
    lab[5:25, 10:20] = 15_001
    lab[5:10, 10:20] = 15_001_01
    lab[10:25, 10:20] = 15_001_11
    return lab


def ppp_label_car():
    lab = np.full((30, 40), 25, np.int32)
    lab[10:20, 5:35] = 7_003_01
    lab[20:25, 5:15] = 7_003_22
    return lab


def make_ppp():
    for split, stem, lab in (('training', '2008_000002', ppp_label_person()),
                             ('validation', '2008_000003', ppp_label_rich()),
                             ('validation', '2008_000007', ppp_label_car())):
        folder = osp.join(HERE, 'ppp', 'labels', split)
        os.makedirs(folder, exist_ok=True)
        img = Image.fromarray(lab)
        assert img.mode == 'I'
        img.save(osp.join(folder, f'{stem}.tif'), compression='tiff_lzw')


# ---------------------------------------------------------------------- PACO
#: Real PACO category ids: objects keep their LVIS ids; object-part ids
#: start at 2000 (car_(automobile):antenna = 2000, chair:apron = 2001) in
#: the order of paco_categories.py.
PACO_CATS = [
    dict(id=207, name='car_(automobile)', supercategory='OBJECT'),
    dict(id=1196, name='wrench', supercategory='OBJECT'),
    dict(id=2000, name='car_(automobile):antenna', supercategory='PART'),
    dict(id=2097, name='car_(automobile):bumper', supercategory='PART'),
    dict(id=2185, name='car_(automobile):handle', supercategory='PART'),
    dict(id=2201, name='car_(automobile):headlight', supercategory='PART'),
    dict(id=2179, name='wrench:handle', supercategory='PART'),
    dict(id=2197, name='wrench:head', supercategory='PART'),
]


def box_poly(x0, y0, x1, y1):
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def make_paco():
    """Two PACO-LVIS images (COCO 142238, 439180) and one EGO4D frame."""
    images = [
        dict(
            id=142238,
            file_name='val2017/000000142238.jpg',
            height=427,
            width=640,
            neg_category_ids=[1196],
            not_exhaustive_category_ids=[],
            license=2),
        dict(
            id=439180,
            file_name='val2017/000000439180.jpg',
            height=360,
            width=640,
            neg_category_ids=[],
            not_exhaustive_category_ids=[207],
            license=1),
        dict(
            id=5000001,
            file_name='8f3b6a52-1c6e-4d38-9d2e-2b7f4f0f9a11_000120.jpeg',
            height=100,
            width=120,
            neg_category_ids=[],
            not_exhaustive_category_ids=[]),
    ]
    h, w = 427, 640
    uncompressed = mask_util.frPyObjects(box_poly(130, 200, 170, 230), h, w)[0]
    # Uncompressed RLE: counts as a list of run lengths (column-major).
    flat = mask_util.decode(uncompressed).flatten(order='F')
    runs, value, n = [], 0, 0
    for v in flat.tolist():
        if v != value:
            runs.append(n)
            value, n = v, 0
        n += 1
    runs.append(n)
    headlight = dict(size=[h, w], counts=runs)
    anns = [
        # car object (polygon) and its parts
        dict(
            id=11,
            image_id=142238,
            category_id=207,
            obj_ann_id=11,
            segmentation=box_poly(100, 150, 300, 250)),
        dict(
            id=12,
            image_id=142238,
            category_id=2097,
            obj_ann_id=11,
            segmentation=box_poly(100, 220, 300, 250)),  # bumper
        dict(
            id=13,
            image_id=142238,
            category_id=2201,
            obj_ann_id=11,
            segmentation=headlight),  # uncompressed RLE, overlaps bumper
        dict(
            id=14,
            image_id=142238,
            category_id=2185,
            obj_ann_id=11,
            segmentation=rle(rect(h, w, 160, 180, 250, 320))),  # 20 px out
        dict(
            id=15,
            image_id=142238,
            category_id=2000,
            obj_ann_id=11,
            segmentation=[]),  # empty
        dict(
            id=16,
            image_id=142238,
            category_id=2000,
            obj_ann_id=11,
            segmentation=[[5.0, 5.0, 6.0, 6.0]]),  # degenerate polygon
        # wrench (compressed RLE) with two parts
        dict(
            id=21,
            image_id=439180,
            category_id=1196,
            obj_ann_id=21,
            segmentation=rle(rect(360, 640, 50, 100, 200, 300))),
        dict(
            id=22,
            image_id=439180,
            category_id=2179,
            obj_ann_id=21,
            segmentation=rle(rect(360, 640, 50, 100, 200, 260))),
        dict(
            id=23,
            image_id=439180,
            category_id=2197,
            obj_ann_id=21,
            segmentation=rle(rect(360, 640, 50, 100, 260, 300))),
        # a wrench without a mask, and its part
        dict(
            id=24,
            image_id=439180,
            category_id=1196,
            obj_ann_id=24,
            segmentation=[]),
        dict(
            id=25,
            image_id=439180,
            category_id=2179,
            obj_ann_id=24,
            segmentation=rle(rect(360, 640, 10, 20, 10, 20))),
        # a car whose RLE is all zeros
        dict(
            id=26,
            image_id=439180,
            category_id=207,
            obj_ann_id=26,
            segmentation=rle(np.zeros((360, 640), bool))),
        # EGO4D: a box without a mask
        dict(
            id=31,
            image_id=5000001,
            category_id=1196,
            obj_ann_id=31,
            segmentation=[]),
    ]
    for ann in anns:
        ann.setdefault('bbox', [0, 0, 0, 0])
        ann.setdefault('area', 0)
        ann.setdefault('attribute_ids', [])
    dump(
        dict(
            images=images,
            annotations=anns,
            categories=PACO_CATS,
            part_categories=[dict(id=0, name='antenna')],
            attributes=[]), 'paco', 'paco_sample.json')


# ----------------------------------------------------------------------- PSG
#: ``predicate_classes`` of psg.json, in file order.
PSG_PREDICATES = [
    'over', 'in front of', 'beside', 'on', 'in', 'attached to', 'hanging from',
    'on back of', 'falling off', 'going down', 'painted on', 'walking on',
    'running on', 'crossing', 'standing on', 'lying on', 'sitting on',
    'flying over', 'jumping over', 'jumping from', 'wearing', 'holding',
    'carrying', 'looking at', 'guiding', 'kissing', 'eating', 'drinking',
    'feeding', 'biting', 'catching', 'picking', 'playing with', 'chasing',
    'climbing', 'cleaning', 'playing', 'touching', 'pushing', 'pulling',
    'opening', 'cooking', 'talking to', 'throwing', 'slicing', 'driving',
    'riding', 'parked on', 'driving on', 'about to hit', 'kicking', 'swinging',
    'entering', 'exiting', 'enclosing', 'leaning on'
]


def _touching(ids, a, b):
    import cv2
    grown = cv2.dilate((ids == a).astype(np.uint8), np.ones((3, 3),
                                                            np.uint8)) > 0
    return bool((grown & (ids == b)).any())


def make_psg():
    """The panopticapi sample in psg.json's record layout."""
    pan = json.load(open(osp.join(SAMPLE, 'panoptic_examples.json')))
    cats = sorted(
        json.load(
            open(
                osp.join(HERE, 'panopticapi',
                         'panoptic_coco_categories.json'))),
        key=lambda c: c['id'])
    things = [c for c in cats if c['isthing']]
    stuff = [c for c in cats if not c['isthing']]
    psg_cat = {c['id']: i for i, c in enumerate(things + stuff)}
    images = {img['id']: img for img in pan['images']}
    pred = PSG_PREDICATES.index
    data = []
    for psg_id, record in zip(('40001', '40002'), pan['annotations']):
        img = images[record['image_id']]
        ids = rgb2id(
            np.asarray(
                Image.open(
                    osp.join(SAMPLE, 'panoptic_examples',
                             record['file_name'])).convert('RGB')))
        segs = record['segments_info']
        segments_info = [
            dict(
                id=s['id'],
                category_id=psg_cat[s['category_id']],
                iscrowd=s['iscrowd'],
                isthing=int(psg_cat[s['category_id']] < len(things)),
                area=s['area']) for s in segs
        ]
        annotations = [
            dict(
                bbox=[
                    s['bbox'][0], s['bbox'][1], s['bbox'][0] + s['bbox'][2],
                    s['bbox'][1] + s['bbox'][3]
                ],
                bbox_mode=0,
                category_id=psg_cat[s['category_id']]) for s in segs
        ]
        normal = [i for i, s in enumerate(segs) if not s['iscrowd']]
        crowd = [i for i, s in enumerate(segs) if s['iscrowd']]
        pairs = [(i, j) for i in normal for j in normal
                 if i < j and _touching(ids, segs[i]['id'], segs[j]['id'])]
        far = [(i, j) for i in normal for j in normal
               if i < j and not _touching(ids, segs[i]['id'], segs[j]['id'])]
        (a, b), (c, d) = pairs[0], pairs[1]
        e, f = far[0]
        if psg_id == '40001':
            relations = [
                [a, b, pred('standing on')],  # kept
                [b, a, pred('on')],  # same pair reversed: duplicate
                [a, b, pred('beside')],  # non-contact predicate
                [c, d, pred('holding')],  # kept
                [e, f, pred('touching')],  # kept; masks do not touch
                [a, a, pred('holding')],  # self relation
                [a, crowd[0], pred('holding')],  # crowd entity
            ]
        else:
            # A segment listed in segments_info but absent from the PNG.
            segments_info.append(
                dict(id=1, category_id=0, iscrowd=0, isthing=1, area=10))
            annotations.append(
                dict(bbox=[0, 0, 1, 1], bbox_mode=0, category_id=0))
            relations = [
                [a, b, pred('sitting on')],  # kept
                [c, d, pred('looking at')],  # non-contact predicate
                [a, len(segments_info) - 1,
                 pred('holding')],  # empty entity
            ]
        data.append(
            dict(
                file_name='val2017/' + img['file_name'],
                height=img['height'],
                width=img['width'],
                image_id=psg_id,
                coco_image_id=str(img['id']),
                pan_seg_file_name='panoptic_examples/' + record['file_name'],
                segments_info=segments_info,
                annotations=annotations,
                relations=relations))
    dump(
        dict(
            data=data,
            thing_classes=[c['name'] for c in things],
            stuff_classes=[c['name'] for c in stuff],
            predicate_classes=PSG_PREDICATES,
            test_image_ids=['40002']), 'psg', 'psg_sample.json')


if __name__ == '__main__':
    for folder in ('entityseg', 'ppp', 'paco', 'psg'):
        os.makedirs(osp.join(HERE, folder), exist_ok=True)
    make_entityseg()
    make_ppp()
    make_paco()
    make_psg()
