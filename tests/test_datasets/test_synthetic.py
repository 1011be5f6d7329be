# Copyright (c) mmaims contributors. All rights reserved.
import hashlib
import importlib.util
import json
import os
import os.path as osp
import sys
import time

import numpy as np

from mmaims.datasets import HierarchicalCocoDataset
from mmaims.datasets.synthetic import (SOURCES, generate_scene,
                                       make_synthetic_dataset)
from mmaims.structures import decode_rle

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _digest(root):
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            path = osp.join(dirpath, name)
            h.update(osp.relpath(path, root).encode())
            with open(path, 'rb') as f:
                h.update(f.read())
    return h.hexdigest()


def test_same_seed_same_bytes(tmp_path):
    make_synthetic_dataset(str(tmp_path / 'a'), num_images=8, num_val=2,
                           seed=4)
    make_synthetic_dataset(str(tmp_path / 'b'), num_images=8, num_val=2,
                           seed=4)
    make_synthetic_dataset(str(tmp_path / 'c'), num_images=8, num_val=2,
                           seed=5)
    assert _digest(tmp_path / 'a') == _digest(tmp_path / 'b')
    assert _digest(tmp_path / 'a') != _digest(tmp_path / 'c')


def test_speed_sanity(tmp_path):
    start = time.time()
    make_synthetic_dataset(str(tmp_path), num_images=40, num_val=0, seed=0)
    # the target is 1000 images < 60 s: 40 images must take well under 2.4s
    assert time.time() - start < 2.4


def test_annotation_patterns(synthetic_root):
    with open(osp.join(synthetic_root, 'annotations', 'train.json')) as f:
        train = json.load(f)
    with open(osp.join(synthetic_root, 'annotations', 'val.json')) as f:
        val = json.load(f)
    assert {im['source'] for im in train['images']} == set(SOURCES)
    assert {im['source'] for im in val['images']} == {'toy_ppp', 'toy_psg'}
    anns = {}
    for a in train['annotations']:
        anns.setdefault(a['image_id'], []).append(a)
    relation_images = psg_images = 0
    for im in train['images']:
        levels = {a['level'] for a in anns.get(im['id'], [])}
        src = im['source']
        if src == 'toy_ppp':
            assert im['levels'] == ['part', 'entity']
            assert 'relation' not in levels and 'part' in levels
        elif src == 'toy_psg':
            assert im['levels'] == ['entity', 'relation']
            assert 'part' not in levels
            psg_images += 1
            relation_images += 'relation' in levels
        elif src == 'toy_entityseg':
            assert im['levels'] == ['entity'] and levels <= {'entity'}
        else:
            assert im['levels'] == []
            region = decode_rle(im['valid_region'])
            assert 0.1 <= region.mean() <= 0.35
            things = [a for a in anns[im['id']] if a['level'] == 'entity']
            assert 1 <= len(things) <= 2
            for a in anns[im['id']]:
                m = decode_rle(a['segmentation'])
                assert not (m & ~region).any()
    # relations in most toy_psg images
    assert relation_images >= 0.8 * psg_images
    # the dataset loads and validates the file (unions, links, sizes...)
    ds = HierarchicalCocoDataset(
        data_root=synthetic_root, ann_file='annotations/train.json',
        data_prefix=dict(img='images/'), pipeline=[])
    assert len(ds) == 24


def test_scene_structure():
    rng = np.random.default_rng(0)
    kinds, stacks, disconnected_stuff = set(), 0, 0
    import cv2
    for _ in range(40):
        scene = generate_scene(rng, size=128, num_stacks=(1, 2))
        assert scene.image.shape == (128, 128, 3)
        union = np.zeros((128, 128), dtype=int)
        for ent in scene.entities:
            kinds.add(ent['kind'])
            if not ent['iscrowd']:
                union += ent['mask']
            for _, part in ent['parts']:
                assert not (part & ~ent['mask']).any()
            if ent['parts']:
                assert (np.any([p for _, p in ent['parts']], axis=0) ==
                        ent['mask']).all()
            stacks += ent['on'] is not None
            if ent['kind'] == 'water':
                n, _ = cv2.connectedComponents(ent['mask'].astype(np.uint8))
                disconnected_stuff += n > 2
        # entities tile the image (panoptic-like), crowd aside
        assert union.max() == 1
    assert kinds >= {'sky', 'ground', 'car', 'robot', 'table', 'mushroom',
                     'box'}
    assert stacks >= 40 and disconnected_stuff > 0


def _load_tool(name):
    path = osp.join(REPO, 'tools', 'misc', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'_tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli(tmp_path, monkeypatch, capsys):
    tool = _load_tool('make_synthetic_dataset')
    monkeypatch.setattr(sys, 'argv', [
        'make_synthetic_dataset.py',
        str(tmp_path), '--num-images', '4', '--num-val', '2', '--seed', '1',
        '--no-progress'
    ])
    tool.main()
    assert 'wrote' in capsys.readouterr().out
    assert osp.isfile(tmp_path / 'annotations' / 'train.json')
    assert len(os.listdir(tmp_path / 'images' / 'val')) == 2
    assert len(os.listdir(tmp_path / 'images' / 'train')) == 4
