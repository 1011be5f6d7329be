# Copyright (c) mmaims contributors. All rights reserved.
"""The embedded synthetic AIMS dataset (toy world of things, parts, stuff).

Scenes are small (128 x 128 by default) so that a CPU training can learn
them. A scene has:

- **stuff** entities with textures: ``sky`` (vertical gradient, wavy
  horizon), ``ground`` (stripes) and sometimes ``water`` made of two
  separate ponds (a disconnected stuff entity);
- **thing** entities built from parts, each part kind with its own colour:
  ``car`` (body, window, 2 wheels), ``robot`` (head, torso, 2 arms),
  ``table`` (top, 2 legs), ``mushroom`` (cap, stem) and ``box`` (no parts);
  bodies take random colours from a palette so touching things of one kind
  stay separable;
- **occlusion**: things standing lower in the image are closer and drawn
  later;
- **contacts**: things stacked on a ``table`` or ``box`` ("X on Y", always
  touching) and things that touch side by side;
- **crowd**: sometimes a cluster of pebbles annotated as one ``iscrowd``
  entity (sources toy_ppp and toy_entityseg).

Each image is annotated following the pattern of one real dataset (its
``source``):

============== ==================== =====================================
source         ``levels``           annotations
============== ==================== =====================================
toy_ppp        [part, entity]       every entity and every part (like PPP)
toy_psg        [entity, relation]   every entity; relations only for the
                                    stacked "X on Y" pairs, never for side
                                    contacts (sparse, like COCO-PSG; the
                                    rule is the same in train and val)
toy_entityseg  [entity]             every entity (like EntitySeg)
toy_paco       []                   one or two things of kinds car, robot
                                    or mushroom with their parts, inside a
                                    ``valid_region`` covering 10-30% of the
                                    image (like PACO)
============== ==================== =====================================

The train file mixes the four sources in turn; the val file holds toy_ppp
and toy_psg images (the paper evaluates on PPP and COCO-PSG). Every image
is generated from its own seed ``(seed, split, index)``, so the same seed
gives the same bytes (PNG images and JSON).
"""
import json
import os
import os.path as osp
from functools import lru_cache
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from mmaims.structures import (ENTITY, PART, RELATION, encode_mask, merge_rles,
                               rle_area, rle_bbox)
from mmaims.utils.file_io import atomic_open

SOURCES = ('toy_ppp', 'toy_psg', 'toy_entityseg', 'toy_paco')
VAL_SOURCES = ('toy_ppp', 'toy_psg')
SOURCE_LEVELS = {
    'toy_ppp': [PART, ENTITY],
    'toy_psg': [ENTITY, RELATION],
    'toy_entityseg': [ENTITY],
    'toy_paco': [],
}
#: thing kinds a toy_paco image may annotate (PACO covers 75 classes only)
PACO_KINDS = ('car', 'robot', 'mushroom')

STUFF_KINDS = ('sky', 'ground', 'water', 'pebbles')
THING_KINDS = ('car', 'robot', 'table', 'mushroom', 'box')
PART_KINDS = ('car_body', 'wheel', 'window', 'robot_head', 'robot_torso',
              'robot_arm', 'table_top', 'table_leg', 'mushroom_cap',
              'mushroom_stem')
#: kinds that only scenes with ``num_rare`` contain (the Table 1 profile,
#: :mod:`mmaims.datasets.synthetic_table1`): taxonomies smaller than
#: EntitySeg's leave them unlabeled. A lamp has a pole and a shade.
RARE_KINDS = ('lamp', 'bush')
RARE_PART_KINDS = ('lamp_pole', 'lamp_shade')
CATEGORIES = [
    dict(id=i + 1, name=name, level=level)
    for i, (name, level) in enumerate(
        [(k, ENTITY) for k in STUFF_KINDS + THING_KINDS] +
        [(k, PART) for k in PART_KINDS] + [('on', RELATION)])
]
#: :data:`CATEGORIES` and the rare kinds (new ids after the old ones).
CATEGORIES_WITH_RARE = CATEGORIES + [
    dict(id=len(CATEGORIES) + i + 1, name=name, level=level)
    for i, (name, level) in enumerate([(k, ENTITY) for k in RARE_KINDS] +
                                      [(k, PART) for k in RARE_PART_KINDS])
]
_CAT_ID = {c['name']: c['id'] for c in CATEGORIES_WITH_RARE}

# RGB colours. Bodies avoid the blues and greens of the stuff.
_BODY_PALETTE = np.array([(205, 45, 45), (235, 145, 30), (150, 60, 180),
                          (225, 95, 165), (240, 220, 60), (120, 80, 60)],
                         dtype=np.float32)
_FIXED_COLOURS = {
    'sky': (140, 190, 235),
    'ground': (105, 150, 70),
    'water': (40, 85, 190),
    'pebbles': (200, 200, 190),
    'wheel': (25, 25, 25),
    'window': (175, 235, 250),
    'robot_head': (245, 225, 170),
    'robot_arm': (150, 150, 155),
    'table_top': (160, 100, 45),
    'table_leg': (85, 50, 20),
    'mushroom_stem': (245, 240, 225),
    'lamp_pole': (70, 70, 80),
    'lamp_shade': (250, 240, 120),
    'bush': (40, 120, 60),
}


@lru_cache(maxsize=4)
def _grid(size: int) -> Tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return yy, xx


class _Canvas:
    """Paints regions in z-order into an RGB image and a region-id map."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size = size
        self.rng = rng
        self.image = np.zeros((size, size, 3), dtype=np.float32)
        self.label = np.zeros((size, size), dtype=np.int32)
        self.num_regions = 0
        self.noise = rng.normal(0, 5, (size, size, 1)).astype(np.float32)

    def paint(self, mask: np.ndarray, colour, texture: str = 'flat') -> int:
        """Paint ``mask`` on top of what is there; return its region id."""
        self.num_regions += 1
        rid = self.num_regions
        if not mask.any():
            return rid
        yy, xx = _grid(self.size)
        colour = np.asarray(colour, dtype=np.float32)
        ys, xs = np.nonzero(mask)
        y, x = yy[ys, xs, None], xx[ys, xs, None]
        if texture == 'gradient':
            value = colour + (y / self.size) * np.array([60, 40, 15])
        elif texture == 'stripes':
            value = colour * (1 - 0.22 * (np.sin(y * 1.3) > 0.3))
        elif texture == 'ripple':
            value = colour * (1 + 0.18 * np.sin(x * 0.7 + y * 0.35))
        elif texture == 'checker':
            value = colour * (1 - 0.18 * (((x // 4) + (y // 4)) % 2))
        elif texture == 'dots':
            value = colour + 80 * ((np.sin(x * 1.1) * np.sin(y * 1.1)) > 0.7)
        else:
            value = np.broadcast_to(colour, (len(ys), 3))
        self.image[ys, xs] = value + self.noise[ys, xs]
        self.label[ys, xs] = rid
        return rid

    def result(self) -> np.ndarray:
        return np.clip(self.image, 0, 255).astype(np.uint8)


def _blank(size: int) -> np.ndarray:
    return np.zeros((size, size), dtype=np.uint8)


def _rect(size: int, x1, y1, x2, y2) -> np.ndarray:
    m = _blank(size)
    cv2.rectangle(m, (int(round(x1)), int(round(y1))),
                  (int(round(x2)) - 1, int(round(y2)) - 1), 1, -1)
    return m.astype(bool)


def _circle(size: int, cx, cy, r) -> np.ndarray:
    m = _blank(size)
    cv2.circle(m, (int(round(cx)), int(round(cy))), int(round(r)), 1, -1)
    return m.astype(bool)


def _ellipse(size: int, cx, cy, ax, ay, start=0, end=360) -> np.ndarray:
    m = _blank(size)
    cv2.ellipse(m, (int(round(cx)), int(round(cy))),
                (int(round(ax)), int(round(ay))), 0, start, end, 1, -1)
    return m.astype(bool)


class _Thing:
    """A thing: parts (kind, mask, colour, texture) painted in order."""

    def __init__(self, kind: str, parts: list, top: Optional[tuple]):
        self.kind = kind
        self.parts = parts
        # (y, x1, x2) of a flat top other things can rest on, or None
        self.top = top
        self.region_ids: List[int] = []
        self.on: Optional['_Thing'] = None


def _build_thing(kind: str, cx: float, bottom: float, s: float, size: int,
                 rng: np.random.Generator) -> _Thing:
    body = _BODY_PALETTE[rng.integers(len(_BODY_PALETTE))]
    f = _FIXED_COLOURS
    if kind == 'car':
        w, hb = rng.uniform(30, 40) * s, rng.uniform(10, 13) * s
        r = rng.uniform(4, 5.5) * s
        y_body = bottom - r - hb * 0.6
        cabin_w, cabin_h = w * 0.55, hb * 0.8
        lower = _rect(size, cx - w / 2, y_body, cx + w / 2, y_body + hb)
        cabin = _rect(size, cx - cabin_w / 2, y_body - cabin_h,
                      cx + cabin_w / 2, y_body + 1)
        window = _rect(size, cx - cabin_w / 2 + 2.5 * s,
                       y_body - cabin_h + 2.5 * s, cx + cabin_w / 2 - 2.5 * s,
                       y_body)
        parts = [('car_body', (lower | cabin) & ~window, body, 'flat'),
                 ('window', window, f['window'], 'flat')]
        for wx in (cx - w / 2 + r + 1.5 * s, cx + w / 2 - r - 1.5 * s):
            parts.append(('wheel', _circle(size, wx, bottom - r, r),
                          f['wheel'], 'flat'))
        return _Thing(kind, parts, None)
    if kind == 'robot':
        tw, th = rng.uniform(11, 14) * s, rng.uniform(14, 18) * s
        hs = rng.uniform(8, 10) * s
        aw = 3.5 * s
        torso = _rect(size, cx - tw / 2, bottom - th, cx + tw / 2, bottom)
        head = _rect(size, cx - hs / 2, bottom - th - hs, cx + hs / 2,
                     bottom - th)
        parts = [('robot_torso', torso, body, 'flat'),
                 ('robot_head', head, f['robot_head'], 'flat')]
        for ax in (cx - tw / 2 - aw, cx + tw / 2):
            parts.append(('robot_arm',
                          _rect(size, ax, bottom - th + 1 * s, ax + aw,
                                bottom - th * 0.25), f['robot_arm'], 'flat'))
        return _Thing(kind, parts, None)
    if kind == 'table':
        w, lh = rng.uniform(30, 44) * s, rng.uniform(13, 18) * s
        th = 5 * s
        lw = 4 * s
        y_top = bottom - lh - th
        parts = [('table_top',
                  _rect(size, cx - w / 2, y_top, cx + w / 2, y_top + th),
                  f['table_top'], 'flat')]
        for lx in (cx - w / 2 + 2 * s, cx + w / 2 - 2 * s - lw):
            parts.append(('table_leg',
                          _rect(size, lx, y_top + th, lx + lw, bottom),
                          f['table_leg'], 'flat'))
        return _Thing(kind, parts, (y_top, cx - w / 2 + 3 * s,
                                    cx + w / 2 - 3 * s))
    if kind == 'mushroom':
        sw, sh = rng.uniform(5, 7) * s, rng.uniform(8, 11) * s
        cw, ch = rng.uniform(8, 11) * s, rng.uniform(7, 9) * s
        stem = _rect(size, cx - sw / 2, bottom - sh, cx + sw / 2, bottom)
        cap = _ellipse(size, cx, bottom - sh, cw, ch, 180, 360)
        return _Thing(kind, [('mushroom_stem', stem & ~cap,
                              f['mushroom_stem'], 'flat'),
                             ('mushroom_cap', cap, body, 'dots')], None)
    if kind == 'lamp':
        ph, pw = rng.uniform(26, 38) * s, 2.5 * s
        sw, sh = rng.uniform(9, 13) * s, rng.uniform(6, 8) * s
        pole = _rect(size, cx - pw / 2, bottom - ph, cx + pw / 2, bottom)
        shade = _rect(size, cx - sw / 2, bottom - ph - sh, cx + sw / 2,
                      bottom - ph + 1)
        return _Thing(kind, [('lamp_pole', pole & ~shade, f['lamp_pole'],
                              'flat'),
                             ('lamp_shade', shade, f['lamp_shade'], 'flat')],
                      None)
    if kind == 'bush':
        ax, ay = rng.uniform(9, 16) * s, rng.uniform(6, 10) * s
        bush = _ellipse(size, cx, bottom - ay, ax, ay)
        return _Thing(kind, [(None, bush, f['bush'], 'dots')], None)
    # box: a thing without parts
    w, h = rng.uniform(14, 24) * s, rng.uniform(12, 20) * s
    box = _rect(size, cx - w / 2, bottom - h, cx + w / 2, bottom)
    return _Thing(kind, [(None, box, body, 'checker')],
                  (bottom - h, cx - w / 2 + 2 * s, cx + w / 2 - 2 * s))


class Scene:
    """A rendered scene: image, region map and the entity/part structure.

    Attributes:
        image (np.ndarray): RGB ``H x W x 3`` uint8.
        entities (list[dict]): ``kind``, ``mask`` (bool ``H x W``),
            ``iscrowd``, ``is_thing``, ``parts`` (list of ``(kind, mask)``)
            and ``on`` (index of the entity it rests on, or None).
    """

    def __init__(self, image: np.ndarray, entities: List[dict]) -> None:
        self.image = image
        self.entities = entities


def generate_scene(rng: np.random.Generator,
                   size: int = 128,
                   num_stacks: Tuple[int, int] = (0, 1),
                   crowd_prob: float = 0.0,
                   num_rare: Tuple[int, int] = (0, 0)) -> Scene:
    """Render one random scene.

    Args:
        rng (np.random.Generator): Source of randomness.
        size (int): Side of the square image. Defaults to 128.
        num_stacks (tuple[int, int]): Inclusive range of the number of
            "X on Y" stacks. Defaults to (0, 1).
        crowd_prob (float): Probability of a pebble crowd. Defaults to 0.
        num_rare (tuple[int, int]): Inclusive range of the number of
            things of :data:`RARE_KINDS`, standing behind the other things.
            Defaults to (0, 0): none, and the scene is drawn exactly as
            without this argument.

    Returns:
        Scene: The scene.
    """
    # objects are drawn 1.25x their nominal size at 128 px so that parts
    # stay several pixels wide at the model's output stride
    s = size / 128. * 1.25
    canvas = _Canvas(size, rng)
    yy, xx = _grid(size)
    horizon = rng.uniform(0.28, 0.4) * size
    wave = horizon + 3 * s * np.sin(xx[0] * rng.uniform(0.04, 0.1) +
                                    rng.uniform(0, 6.3))
    sky = yy < wave[None, :]
    stuff = [('sky', sky, 'gradient'), ('ground', ~sky, 'stripes')]
    if rng.random() < 0.5:
        ponds = np.zeros((size, size), dtype=bool)
        for _ in range(2):
            ponds |= _ellipse(size, rng.uniform(0.15, 0.85) * size,
                              rng.uniform(horizon + 12 * s, size - 6 * s),
                              rng.uniform(8, 14) * s, rng.uniform(3, 5) * s)
        stuff[1] = ('ground', ~sky & ~ponds, 'stripes')
        stuff.append(('water', ponds & ~sky, 'ripple'))
    if rng.random() < crowd_prob:
        pebbles = np.zeros((size, size), dtype=bool)
        px = rng.uniform(0.15, 0.85) * size
        py = rng.uniform(horizon + 15 * s, size - 8 * s)
        for _ in range(rng.integers(8, 15)):
            pebbles |= _circle(size, px + rng.normal(0, 5 * s),
                               py + rng.normal(0, 3 * s),
                               rng.uniform(1, 2) * s)
        pebbles &= ~sky
        stuff.append(('pebbles', pebbles, 'flat'))

    entities = []
    # later stuff covers earlier stuff; visible masks come from the map
    for kind, mask, texture in stuff:
        rid = canvas.paint(mask, _FIXED_COLOURS[kind], texture)
        entities.append(
            dict(kind=kind, region_ids=[rid], iscrowd=kind == 'pebbles',
                 is_thing=False, parts=[], on=None))

    if num_rare[1] > 0:
        # the rare things draw from a stream of their own
        rare_rng = np.random.default_rng(int(rng.integers(2**32)))
        for _ in range(int(rare_rng.integers(num_rare[0], num_rare[1] + 1))):
            kind = RARE_KINDS[int(rare_rng.integers(len(RARE_KINDS)))]
            thing = _build_thing(kind,
                                 rare_rng.uniform(0.1, 0.9) * size,
                                 rare_rng.uniform(horizon + 10 * s, size - 4),
                                 s, size, rare_rng)
            for _, mask, colour, texture in thing.parts:
                thing.region_ids.append(canvas.paint(mask, colour, texture))
            entities.append(
                dict(kind=kind, region_ids=thing.region_ids, iscrowd=False,
                     is_thing=True, thing=thing, on=None))

    # Ground things on distinct x slots: partial occlusions and side
    # contacts, no thing hidden completely.
    n_stacks = int(rng.integers(num_stacks[0], num_stacks[1] + 1))
    n_ground = int(rng.integers(max(2, n_stacks), 5))
    slots = (np.arange(n_ground) + rng.uniform(0.2, 0.8, n_ground)) / \
        n_ground
    bottoms = rng.uniform(horizon + 22 * s, size - 2, n_ground)
    base_ids = rng.permutation(n_ground)[:n_stacks]
    placed = []
    for i in range(n_ground):
        if i in base_ids:
            kind = ('table', 'box')[int(rng.integers(2))]
        else:
            kind = THING_KINDS[int(rng.integers(len(THING_KINDS)))]
        thing = _build_thing(kind, slots[i] * size, bottoms[i], s, size, rng)
        group = [thing]
        if i in base_ids and thing.top is not None:
            y_top, x1, x2 = thing.top
            top_kind = ('mushroom', 'box', 'robot')[int(rng.integers(3))]
            top = _build_thing(top_kind, rng.uniform(x1, max(x1, x2)),
                               y_top, s * 0.8, size, rng)
            top.on = thing
            group.append(top)
        placed.append((bottoms[i], group))
    # farther (higher) things first so nearer ones occlude them
    for _, group in sorted(placed, key=lambda g: g[0]):
        for thing in group:
            for _, mask, colour, texture in thing.parts:
                thing.region_ids.append(canvas.paint(mask, colour, texture))
            entities.append(
                dict(kind=thing.kind, region_ids=thing.region_ids,
                     iscrowd=False, is_thing=True, thing=thing, on=None))

    # visible masks from the final region map
    label = canvas.label
    thing_index = {}
    result = []
    for ent in entities:
        mask = np.isin(label, ent['region_ids'])
        if not mask.any():
            continue
        parts = []
        if ent['is_thing']:
            for (pkind, *_), rid in zip(ent['thing'].parts,
                                        ent['region_ids']):
                if pkind is None:
                    continue
                pmask = label == rid
                if pmask.any():
                    parts.append((pkind, pmask))
            thing_index[id(ent['thing'])] = len(result)
        result.append(
            dict(kind=ent['kind'], mask=mask, iscrowd=ent['iscrowd'],
                 is_thing=ent['is_thing'], parts=parts,
                 on=ent['thing'].on if ent['is_thing'] else None))
    for ent in result:
        base = ent['on']
        ent['on'] = thing_index.get(id(base)) if base is not None else None
    return Scene(canvas.result(), result)


def _paco_region(scene: Scene,
                 chosen: List[int],
                 size: int,
                 rng: np.random.Generator,
                 target: Optional[float] = None) -> np.ndarray:
    """Union of boxes around ``chosen`` grown until it covers ``target``
    of the image (default: a random 10-30%), minus the pixels of the other
    things."""
    if target is None:
        target = rng.uniform(0.1, 0.3)
    others = np.zeros((size, size), dtype=bool)
    for i, ent in enumerate(scene.entities):
        if ent['is_thing'] and i not in chosen:
            others |= ent['mask']
    boxes = []
    for i in chosen:
        ys, xs = np.nonzero(scene.entities[i]['mask'])
        boxes.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
    region = None
    for margin in range(0, size):
        region = np.zeros((size, size), dtype=bool)
        for x1, y1, x2, y2 in boxes:
            region[max(0, y1 - margin):y2 + margin,
                   max(0, x1 - margin):x2 + margin] = True
        region &= ~others
        for i in chosen:
            region |= scene.entities[i]['mask']
        if region.mean() >= target:
            break
    return region


def annotate_scene(scene: Scene, source: str, image_id: int,
                   first_ann_id: int, file_name: str,
                   rng: np.random.Generator) -> Tuple[dict, List[dict]]:
    """Annotate ``scene`` following the pattern of ``source``.

    Args:
        scene (Scene): The scene.
        source (str): One of :data:`SOURCES`.
        image_id (int): Id of the image.
        first_ann_id (int): Id of the first annotation.
        file_name (str): ``file_name`` of the image entry.
        rng (np.random.Generator): Randomness (toy_paco's choice of things
            and region size).

    Returns:
        tuple[dict, list[dict]]: The ``images[]`` entry and its
        ``annotations[]`` (docs/formats.md section 1).
    """
    if source not in SOURCE_LEVELS:
        raise ValueError(f'unknown synthetic source "{source}"; expected '
                         f'one of {", ".join(SOURCES)}')
    size = scene.image.shape[0]
    levels = SOURCE_LEVELS[source]
    img = dict(id=image_id, file_name=file_name, height=size, width=size,
               levels=list(levels), source=source)
    entities = scene.entities
    if source == 'toy_paco':
        candidates = [
            i for i, e in enumerate(entities)
            if e['kind'] in PACO_KINDS and e['parts']
        ]
        if not candidates:
            # no PACO-like class in view: the object itself is not
            # annotatable, keep any thing with parts instead
            candidates = [i for i, e in enumerate(entities) if e['parts']]
        n = min(len(candidates), int(rng.integers(1, 3)))
        chosen = sorted(rng.choice(candidates, n, replace=False).tolist()) \
            if n else []
        if chosen:
            region = _paco_region(scene, chosen, size, rng)
            if region.mean() > 0.3 and len(chosen) > 1:
                # two large things: keep one to stay within 10-30%
                chosen = chosen[:1]
                region = _paco_region(scene, chosen, size, rng)
            img['valid_region'] = encode_mask(region)
        entity_rows = chosen
        with_parts = True
    else:
        entity_rows = [
            i for i, e in enumerate(entities)
            if not (e['iscrowd'] and source == 'toy_psg')
        ]
        with_parts = source == 'toy_ppp'

    anns = []
    next_id = first_ann_id
    ent_ann = {}
    ent_rle = {}

    def add(level, rle, **extra):
        nonlocal next_id
        ann = dict(id=next_id, image_id=image_id, level=level,
                   segmentation=rle, area=rle_area(rle), bbox=rle_bbox(rle),
                   iscrowd=0)
        ann.update(extra)
        anns.append(ann)
        next_id += 1
        return ann['id']

    for i in entity_rows:
        ent = entities[i]
        rle = encode_mask(ent['mask'])
        ent_rle[i] = rle
        ent_ann[i] = add(ENTITY, rle, iscrowd=int(ent['iscrowd']),
                         category_id=_CAT_ID[ent['kind']])
        if with_parts:
            for pkind, pmask in ent['parts']:
                add(PART, encode_mask(pmask), entity_id=ent_ann[i],
                    category_id=_CAT_ID[pkind])
    if source == 'toy_psg':
        for i in entity_rows:
            base = entities[i]['on']
            if base is not None and base in ent_ann:
                add(RELATION, merge_rles([ent_rle[i], ent_rle[base]]),
                    entity_ids=[ent_ann[i], ent_ann[base]],
                    category_id=_CAT_ID['on'], predicate='on')
    return img, anns


def write_split(out_dir: str, split: str, count: int, draw: Callable,
                info: dict, categories: List[dict],
                first_ids: Tuple[int, int],
                progress: bool) -> Tuple[str, List[dict], int, int]:
    """Write one split of a synthetic dataset: ``images/SPLIT/NNNNNN.png``
    and, atomically, ``annotations/SPLIT.json``.

    Args:
        out_dir (str): Output directory.
        split (str): ``'train'`` or ``'val'``.
        count (int): Number of images.
        draw (Callable): ``draw(index, image_id, first_ann_id, file_name)``
            -> ``(RGB image, images[] entry, annotations[])``.
        info (dict): The file's ``info``.
        categories (list[dict]): The file's ``categories``.
        first_ids (tuple[int, int]): First image id and annotation id.
        progress (bool): Show a progress bar.

    Returns:
        tuple: The annotation file path, its ``images``, and the next image
        and annotation ids.
    """
    os.makedirs(osp.join(out_dir, 'images', split), exist_ok=True)
    image_id, ann_id = first_ids
    images, annotations = [], []
    iterator = range(count)
    if progress and count:
        from mmengine.utils import track_iter_progress
        iterator = track_iter_progress(list(iterator))
    for i in iterator:
        file_name = f'{split}/{i + 1:06d}.png'
        image, img, anns = draw(i, image_id, ann_id, file_name)
        cv2.imwrite(
            osp.join(out_dir, 'images', file_name),
            cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        images.append(img)
        annotations.extend(anns)
        image_id += 1
        ann_id += len(anns)
    path = osp.join(out_dir, 'annotations', f'{split}.json')
    os.makedirs(osp.dirname(path), exist_ok=True)
    with atomic_open(path) as f:
        json.dump(
            dict(
                info=info,
                images=images,
                annotations=annotations,
                categories=categories),
            f,
            separators=(',', ':'))
    return path, images, image_id, ann_id


def make_synthetic_dataset(out_dir: str,
                           num_images: int = 1000,
                           num_val: Optional[int] = None,
                           seed: int = 0,
                           size: int = 128,
                           train_sources: Sequence[str] = SOURCES,
                           val_sources: Sequence[str] = VAL_SOURCES,
                           progress: bool = False) -> Dict[str, str]:
    """Write the synthetic dataset.

    Layout::

        out_dir/images/train/000001.png ...
        out_dir/images/val/000001.png ...
        out_dir/annotations/train.json
        out_dir/annotations/val.json

    ``data_prefix=dict(img='images/')`` with ``data_root=out_dir`` loads it.

    Args:
        out_dir (str): Output directory.
        num_images (int): Number of train images; the train sources take
            turns. Defaults to 1000.
        num_val (int, optional): Number of val images (val sources take
            turns). Defaults to ``max(2, num_images // 5)``.
        seed (int): Seed; the same seed gives the same bytes. Defaults to 0.
        size (int): Image side in pixels. Defaults to 128.
        train_sources (Sequence[str]): Sources of the train split.
        val_sources (Sequence[str]): Sources of the val split.
        progress (bool): Show a progress bar. Defaults to False.

    Returns:
        dict: Paths of ``train`` and ``val`` annotation files.
    """
    if num_val is None:
        num_val = max(2, num_images // 5)
    paths = {}
    image_id = 1
    ann_id = 1
    for split_index, (split, count, sources) in enumerate(
        (('train', num_images, tuple(train_sources)),
         ('val', num_val, tuple(val_sources)))):

        def draw(i, first_image_id, first_ann_id, file_name):
            source = sources[i % len(sources)]
            rng = np.random.default_rng([seed, split_index, i])
            for _ in range(20):
                scene = generate_scene(
                    rng,
                    size=size,
                    num_stacks=(1, 2) if source == 'toy_psg' else (0, 1),
                    crowd_prob=0.15
                    if source in ('toy_ppp', 'toy_entityseg') else 0.0)
                # a toy_paco image needs a thing with parts to annotate
                if source != 'toy_paco' or any(e['parts']
                                               for e in scene.entities):
                    break
            img, anns = annotate_scene(scene, source, first_image_id,
                                       first_ann_id, file_name, rng)
            return scene.image, img, anns

        paths[split], _, image_id, ann_id = write_split(
            out_dir,
            split,
            count,
            draw,
            info=dict(
                description='mmaims synthetic AIMS dataset',
                seed=seed,
                size=size),
            categories=CATEGORIES,
            first_ids=(image_id, ann_id),
            progress=progress)
    return paths
