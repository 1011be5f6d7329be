# Copyright (c) mmaims contributors. All rights reserved.
"""The thin-structure synthetic set (CropFormer's CPU setting)."""
import hashlib
import json
import os

import numpy as np

from mmaims.datasets.synthetic_thin import (THIN_KINDS, generate_thin_scene,
                                            make_thin_dataset)
from mmaims.structures import decode_rle


def _digest(root):
    h = hashlib.md5()
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            with open(os.path.join(folder, name), 'rb') as f:
                h.update(name.encode() + f.read())
    return h.hexdigest()


def test_scenes_have_thin_entities_that_partition_the_image():
    kinds = set()
    for seed in range(6):
        image, entities = generate_thin_scene(
            np.random.default_rng(seed), size=256)
        assert image.shape == (256, 256, 3) and image.dtype == np.uint8
        cover = np.sum([e['mask'] for e in entities], axis=0)
        # thin entities occlude what is behind them: one entity per pixel
        assert cover.max() == 1 and cover.min() == 1
        for ent in entities:
            if ent['kind'] not in THIN_KINDS:
                continue
            kinds.add(ent['kind'])
            mask = ent['mask']
            # thin: no 6 x 6 block of the entity is solid at 256 px, so
            # at the x0.5 training size none is as wide as the 4 px stride
            area = np.lib.stride_tricks.sliding_window_view(mask, (6, 6))
            assert not area.all(axis=(2, 3)).any(), ent['kind']
    assert kinds == set(THIN_KINDS)


def test_dataset_is_exhaustive_entities_and_deterministic(tmp_path):
    paths = make_thin_dataset(str(tmp_path / 'a'), num_images=4, num_val=2)
    make_thin_dataset(str(tmp_path / 'b'), num_images=4, num_val=2)
    assert _digest(tmp_path / 'a') == _digest(tmp_path / 'b')
    data = json.load(open(paths['val']))
    names = {c['id']: c['name'] for c in data['categories']}
    assert len(data['images']) == 2
    for img in data['images']:
        assert img['levels'] == ['entity'] and img['source'] == \
            'toy_entityseg'
        assert (img['height'], img['width']) == (256, 256)
        anns = [a for a in data['annotations'] if a['image_id'] == img['id']]
        assert all(a['level'] == 'entity' for a in anns)
        assert any(names[a['category_id']] in THIN_KINDS for a in anns)
        union = np.sum([decode_rle(a['segmentation']) for a in anns], 0)
        assert union.max() == 1 and union.min() == 1
