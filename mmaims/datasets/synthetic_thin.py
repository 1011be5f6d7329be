# Copyright (c) mmaims contributors. All rights reserved.
"""A high-resolution synthetic entity set with thin structures (the CPU
setting of CropFormer's evidence, docs/cropformer.md).

CropFormer (paper 003) exists because thin, fine structures of a
high-resolution image are lost at the training size, and corner crops
resized to that size see them 1 / delta times larger. This profile draws
the main synthetic scenes (:func:`mmaims.datasets.synthetic.
generate_scene`: sky, ground, water, things) at a high resolution (256 px
by default, twice the 128 px the models train at) and adds entities made of
thin parts, one entity each:

- **railing** (1-2 per image, on the ground): 6-10 vertical bars 3-5 px
  wide, 10-15 px apart (the gaps show what is behind), under a top rail
  3-4 px thick;
- **lattice** (a window frame, in half of the images): a square 40-64 px
  wide of 3-4 px bars on a 3 x 3 grid of open panes;
- **wire** (1-2 per image, in the sky): a sagging curve 2-3 px thick
  across most of the image.

At the training size (x0.5) their bars become 1-2.5 px wide, below the
models' mask-feature stride (4 px), with gaps of similar width; a corner
crop of ratio 0.7 resized to the training size shows them x0.71 instead.
Every image annotates the entity level exhaustively (``levels:
["entity"]``, source ``toy_entityseg``, the dense-entity source of the
synthetic data); the thin entities occlude what lies behind them, so every
pixel belongs to one entity. The same seed gives the same bytes.

The design (kinds, sizes, counts) was fixed before any model was trained on
it and must not be changed after seeing results.
"""
from typing import Dict, List, Optional, Tuple

import numpy as np

from mmaims.structures import ENTITY, encode_mask, rle_area, rle_bbox
from .synthetic import CATEGORIES, generate_scene, write_split

#: the thin entity kinds, with their category ids after the default ones
THIN_KINDS = ('railing', 'lattice', 'wire')
THIN_CATEGORIES = CATEGORIES + [
    dict(id=max(c['id'] for c in CATEGORIES) + 1 + i, name=k, level=ENTITY)
    for i, k in enumerate(THIN_KINDS)
]
_CAT_ID = {c['name']: c['id'] for c in THIN_CATEGORIES}
#: the source (and levels) of every image: exhaustive entities
SOURCE = 'toy_entityseg'
_COLOURS = {
    'railing': ((235, 235, 235), (40, 40, 40), (150, 110, 60)),
    'lattice': ((250, 250, 245), (120, 70, 30)),
    'wire': ((20, 20, 20), (90, 90, 90)),
}


def _thin_masks(rng: np.random.Generator, size: int,
                horizon: float) -> List[Tuple[str, np.ndarray]]:
    """The thin entities of one image, in drawing order (later on top)."""
    s = size / 256.
    yy, xx = np.mgrid[0:size, 0:size]
    out = []
    for _ in range(int(rng.integers(1, 3))):
        mask = np.zeros((size, size), dtype=bool)
        bars = int(rng.integers(6, 11))
        pitch = rng.uniform(10, 15) * s
        width = rng.uniform(3, 5) * s
        height = rng.uniform(28, 48) * s
        x0 = rng.uniform(0.02, 0.98) * size - bars * pitch / 2
        bottom = rng.uniform(horizon + height + 4 * s, size - 2)
        top = bottom - height
        for b in range(bars):
            bx = x0 + b * pitch
            mask |= (xx >= bx) & (xx < bx + width) & (yy >= top) & (
                yy < bottom)
        rail = rng.uniform(3, 4) * s
        mask |= (xx >= x0) & (xx < x0 +
                              (bars - 1) * pitch + width) & (yy >= top) & (
                                  yy < top + rail)
        out.append(('railing', mask))
    if rng.random() < 0.5:
        side = rng.uniform(40, 64) * s
        bar = rng.uniform(3, 4) * s
        x0 = rng.uniform(0.05, 0.95) * size - side / 2
        y0 = rng.uniform(0.05, 0.95) * size - side / 2
        mask = np.zeros((size, size), dtype=bool)
        inside = (xx >= x0) & (xx < x0 + side) & (yy >= y0) & (yy < y0 + side)
        for k in range(4):  # 4 lines per direction: a 3 x 3 grid of panes
            p = k * (side - bar) / 3
            mask |= inside & (xx >= x0 + p) & (xx < x0 + p + bar)
            mask |= inside & (yy >= y0 + p) & (yy < y0 + p + bar)
        out.append(('lattice', mask))
    for _ in range(int(rng.integers(1, 3))):
        thick = rng.uniform(2, 3) * s
        y_end = rng.uniform(0.05, 0.8) * horizon
        sag = rng.uniform(8, 30) * s
        x0, x1 = sorted(rng.uniform(0, size, 2))
        x0, x1 = min(x0, 0.2 * size), max(x1, 0.8 * size)
        t = (xx - x0) / max(x1 - x0, 1)
        curve = y_end + sag * 4 * t * (1 - t)
        mask = (np.abs(yy - curve) < thick / 2) & (xx >= x0) & (xx < x1)
        out.append(('wire', mask))
    return out


def generate_thin_scene(rng: np.random.Generator, size: int = 256):
    """One high-resolution scene with thin entities.

    Returns:
        tuple[np.ndarray, list[dict]]: The RGB image and its entities
        (``kind``, ``mask``, ``iscrowd``), every visible pixel in exactly
        one non-crowd entity or a crowd region.
    """
    scene = generate_scene(rng, size=size, crowd_prob=0.15)
    image = scene.image.astype(np.float32)
    entities = [
        dict(kind=e['kind'], mask=e['mask'].copy(), iscrowd=e['iscrowd'])
        for e in scene.entities
    ]
    sky = [e['mask'] for e in scene.entities if e['kind'] == 'sky']
    horizon = float(np.nonzero(sky[0].any(axis=1))[0].max()) if sky and \
        sky[0].any() else 0.3 * size
    noise = rng.normal(0, 5, (size, size, 1)).astype(np.float32)
    for kind, mask in _thin_masks(rng, size, horizon):
        if not mask.any():
            continue
        colours = _COLOURS[kind]
        colour = np.asarray(
            colours[int(rng.integers(len(colours)))], dtype=np.float32)
        image[mask] = colour + noise[mask]
        for ent in entities:
            ent['mask'] &= ~mask
        entities.append(dict(kind=kind, mask=mask, iscrowd=False))
    entities = [e for e in entities if e['mask'].any()]
    return np.clip(image, 0, 255).astype(np.uint8), entities


def make_thin_dataset(out_dir: str,
                      num_images: int = 600,
                      num_val: Optional[int] = None,
                      seed: int = 0,
                      size: int = 256,
                      progress: bool = False) -> Dict[str, str]:
    """Write the thin-structure set (layout of
    :func:`mmaims.datasets.synthetic.make_synthetic_dataset`).

    Args:
        out_dir (str): Output directory.
        num_images (int): Train images. Defaults to 600.
        num_val (int, optional): Val images. Defaults to
            ``max(2, num_images // 6)``.
        seed (int): Seed; the same seed gives the same bytes.
        size (int): Image side. Defaults to 256.
        progress (bool): Show a progress bar.

    Returns:
        dict: Paths of the ``train`` and ``val`` annotation files.
    """
    if num_val is None:
        num_val = max(2, num_images // 6)
    paths = {}
    image_id = ann_id = 1
    splits = (('train', num_images), ('val', num_val))
    for split_index, (split, count) in enumerate(splits):

        def draw(i, first_image_id, first_ann_id, file_name):
            rng = np.random.default_rng([seed, split_index, i, 7])
            image, entities = generate_thin_scene(rng, size)
            img = dict(
                id=first_image_id,
                file_name=file_name,
                height=size,
                width=size,
                levels=[ENTITY],
                source=SOURCE)
            anns = []
            for k, ent in enumerate(entities):
                rle = encode_mask(ent['mask'])
                anns.append(
                    dict(
                        id=first_ann_id + k,
                        image_id=first_image_id,
                        level=ENTITY,
                        segmentation=rle,
                        area=rle_area(rle),
                        bbox=rle_bbox(rle),
                        iscrowd=int(ent['iscrowd']),
                        category_id=_CAT_ID[ent['kind']]))
            return image, img, anns

        paths[split], _, image_id, ann_id = write_split(
            out_dir,
            split,
            count,
            draw,
            info=dict(
                description='mmaims synthetic thin-structure entity set',
                seed=seed,
                size=size),
            categories=THIN_CATEGORIES,
            first_ids=(image_id, ann_id),
            progress=progress)
    return paths
