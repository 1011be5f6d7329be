# Copyright (c) mmaims contributors. All rights reserved.
"""Shared checks of the converter tests (fixture paths, format checks)."""
import json
import os.path as osp

import numpy as np

from mmaims.structures import LEVELS, decode_rle

DATA = osp.join(
    osp.dirname(osp.abspath(__file__)), '..', '..', 'data', 'converters')
SAMPLE = osp.join(DATA, 'panopticapi', 'sample_data')


def _tight_box(mask: np.ndarray) -> list:
    ys, xs = np.nonzero(mask)
    return [
        float(xs.min()),
        float(ys.min()),
        float(xs.max() - xs.min() + 1),
        float(ys.max() - ys.min() + 1)
    ]


def check_hierarchical_file(path: str) -> dict:
    """Assert docs/formats.md section 1 on a written file; return its content.

    Checks: required image keys, levels names, compressed RLE with str
    counts of the image size, area = pixel count, bbox = tight box, part and
    relation links to entities of the same image, relation = union of its
    two entities, unique ids.
    """
    with open(path) as f:
        data = json.load(f)
    images = {}
    for img in data['images']:
        for key in ('id', 'file_name', 'height', 'width', 'levels', 'source'):
            assert key in img, (key, img)
        assert set(img['levels']) <= set(LEVELS)
        assert img['id'] not in images
        images[img['id']] = img
        if 'valid_region' in img:
            assert isinstance(img['valid_region']['counts'], str)
            assert img['valid_region']['size'] == [img['height'], img['width']]
    anns = {}
    for ann in data['annotations']:
        assert ann['id'] not in anns
        anns[ann['id']] = ann
    masks = {}
    for ann in data['annotations']:
        img = images[ann['image_id']]
        assert ann['level'] in LEVELS
        assert ann['iscrowd'] in (0, 1)
        segm = ann['segmentation']
        assert isinstance(segm['counts'], str)
        assert segm['size'] == [img['height'], img['width']]
        mask = decode_rle(segm)
        masks[ann['id']] = mask
        assert ann['area'] == int(mask.sum()) > 0
        assert ann['bbox'] == _tight_box(mask)
    for ann in data['annotations']:
        if ann['level'] == 'part' and ann.get('entity_id') is not None:
            parent = anns[ann['entity_id']]
            assert parent['level'] == 'entity'
            assert parent['image_id'] == ann['image_id']
        if ann['level'] == 'relation':
            s, o = (anns[i] for i in ann['entity_ids'])
            assert s['level'] == o['level'] == 'entity'
            assert s['image_id'] == o['image_id'] == ann['image_id']
            np.testing.assert_array_equal(masks[ann['id']],
                                          masks[s['id']] | masks[o['id']])
    return data


def check_report(report) -> dict:
    """``kept + skipped == read`` for every unit of a report (dict form)."""
    counts = report.to_dict()['counts'] if hasattr(report,
                                                   'to_dict') else report
    for unit, c in counts.items():
        assert c['kept'] + sum(c['skipped'].values()) == c['read'], unit
    return counts


def convert_all_fixtures(root, ppp_spec_file=None):
    """Convert the five source fixtures into ``root``; return their paths
    by source name."""
    from mmaims.datasets.converters import (convert_coco_panoptic,
                                            convert_entityseg, convert_paco,
                                            convert_ppp, convert_psg)
    files = dict(
        coco=str(root / 'coco.json'),
        entityseg=str(root / 'entityseg.json'),
        ppp=str(root / 'ppp.json'),
        paco=str(root / 'paco.json'),
        psg=str(root / 'psg.json'))
    convert_coco_panoptic(
        osp.join(SAMPLE, 'panoptic_examples.json'),
        osp.join(SAMPLE, 'panoptic_examples'), files['coco'])
    convert_entityseg(
        osp.join(DATA, 'entityseg', 'entityseg_sample.json'),
        files['entityseg'])
    convert_ppp(
        osp.join(DATA, 'ppp', 'labels'), files['ppp'],
        spec_file=ppp_spec_file)
    convert_paco(osp.join(DATA, 'paco', 'paco_sample.json'), files['paco'])
    convert_psg(osp.join(DATA, 'psg', 'psg_sample.json'), SAMPLE, files['psg'])
    return files
