# Copyright (c) mmaims contributors. All rights reserved.
"""The synthetic dataset with the annotation inconsistency of the paper's
Table 1 (``make_synthetic_dataset.py --profile table1``).

The toy world of :mod:`mmaims.datasets.synthetic` plus two kinds only a
large taxonomy knows (:data:`~mmaims.datasets.synthetic.RARE_KINDS`: lamps
with a pole and a shade, bushes), annotated by five train sources that
mimic the five training sets by what Table 1 states about them: which
levels each annotates, how much of the image its annotation covers, and
how large its taxonomy is (a kind outside it stays unlabeled). Entity
granularity differs where the real sets differ: COCO's merged stuff classes
are coarser than EntitySeg's entities.

=============== ============ ========== ================ ===================
source          mimics       ``levels`` kinds left        annotated area
                                        unlabeled         (Table 1 target)
=============== ============ ========== ================ ===================
t1_coco         COCO         entity     lamp, bush        89.1 %
t1_ppp          PPP          part,      lamp, bush,       91.7 %
                             entity     mushroom
t1_psg          COCO-PSG     entity,    lamp, bush        90.4 %
                             relation
t1_paco         PACO         (none)     all but one car,  8.4 %
                                        robot or mushroom
t1_entityseg    EntitySeg    entity     none              99.9 %
=============== ============ ========== ================ ===================

- The taxonomy sizes (COCO and COCO-PSG 133, PPP 20, PACO 75, EntitySeg
  634 classes) decide which kinds a source knows: EntitySeg knows all,
  COCO and COCO-PSG all but the rare kinds, PPP (the smallest) also not
  mushrooms, PACO only the part-annotated objects it was built for.
- The annotated-area fraction is met per image: among up to
  :data:`MAX_TRIES` scenes drawn for an image, the first whose annotated
  fraction is within :data:`TOLERANCE` of the target is kept (else the
  closest). The unlabeled pixels lie outside ``valid_region`` (the union of
  the annotations, as the converters write it).
- Granularity: ``t1_coco`` and ``t1_psg`` merge water into the ground
  (COCO panoptic's ``-merged`` stuff classes); ``t1_entityseg`` makes each
  pond its own entity (finer); ``t1_ppp`` and the evaluation keep the
  default (the two ponds are one water entity).
- ``t1_psg`` annotates relations for stacked "X on Y" pairs only, as the
  default ``toy_psg``; ``t1_ppp`` annotates the parts of the things it
  knows; the crowd pebbles are a crowd entity where the source knows
  pebbles (all but ``t1_psg`` and ``t1_paco``).

The val split is exhaustively annotated: ``t1_eval_ppp`` (part + entity)
and ``t1_eval_psg`` (entity + relation) know every kind, rare ones
included, like the evaluation split of the paper built from PPP and
COCO-PSG. This design was fixed from Table 1 before any study ran on it.
"""
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np

from mmaims.structures import (ENTITY, PART, RELATION, encode_mask, merge_rles,
                               rle_area, rle_bbox)
from .synthetic import (_CAT_ID, CATEGORIES_WITH_RARE, PACO_KINDS,
                        RARE_KINDS, Scene, _paco_region, generate_scene,
                        write_split)

#: An image's annotated fraction may differ from its source's target by
#: this much before another scene is drawn.
TOLERANCE = 0.02
#: Scenes drawn at most for one image.
MAX_TRIES = 60


class Table1Source(NamedTuple):
    """How one source annotates (see the module docstring)."""
    mimics: str
    levels: Tuple[str, ...]
    unknown: Tuple[str, ...]
    annotated: float
    granularity: str  # 'coarse', 'default' or 'fine'
    num_stacks: Tuple[int, int]
    crowd_prob: float
    num_rare: Tuple[int, int]


TABLE1_SOURCES: Dict[str, Table1Source] = {
    't1_coco':
    Table1Source('COCO', (ENTITY, ), RARE_KINDS, 0.891, 'coarse', (0, 1),
                 0.15, (1, 4)),
    't1_ppp':
    Table1Source('PPP', (PART, ENTITY), RARE_KINDS + ('mushroom', ), 0.917,
                 'default', (0, 1), 0.15, (1, 4)),
    't1_psg':
    Table1Source('COCO-PSG', (ENTITY, RELATION), RARE_KINDS + ('pebbles', ),
                 0.904, 'coarse', (1, 2), 0.0, (1, 4)),
    't1_paco':
    Table1Source('PACO', (), (), 0.084, 'default', (0, 1), 0.0, (0, 2)),
    't1_entityseg':
    Table1Source('EntitySeg', (ENTITY, ), (), 0.999, 'fine', (0, 1), 0.15,
                 (1, 4)),
}
#: Exhaustively annotated evaluation sources.
TABLE1_VAL_SOURCES: Dict[str, Table1Source] = {
    't1_eval_ppp':
    Table1Source('PPP (evaluation)', (PART, ENTITY), (), 1.0, 'default',
                 (0, 1), 0.15, (1, 4)),
    't1_eval_psg':
    Table1Source('COCO-PSG (evaluation)', (ENTITY, RELATION), (), 1.0,
                 'default', (1, 2), 0.0, (1, 4)),
}
ALL_TABLE1_SOURCES = {**TABLE1_SOURCES, **TABLE1_VAL_SOURCES}


def _entities(scene: Scene, spec: Table1Source) -> List[dict]:
    """The entities the source annotates, at its granularity: ``kind``,
    ``mask``, ``iscrowd``, ``parts``, ``on`` (row into this list)."""
    known = [
        i for i, e in enumerate(scene.entities)
        if e['kind'] not in spec.unknown
    ]
    ground = next((i for i in known if scene.entities[i]['kind'] == 'ground'),
                  None)
    rows = {}
    out = []
    for i in known:
        ent = scene.entities[i]
        if ent['kind'] == 'water' and spec.granularity == 'coarse' and \
                ground is not None:
            continue
        mask = ent['mask']
        if ent['kind'] == 'ground' and spec.granularity == 'coarse':
            for other in scene.entities:
                if other['kind'] == 'water':
                    mask = mask | other['mask']
        if ent['kind'] == 'water' and spec.granularity == 'fine':
            count, labels = cv2.connectedComponents(mask.astype(np.uint8))
            for c in range(1, count):
                out.append(
                    dict(kind='water', mask=labels == c, iscrowd=False,
                         parts=[], on=None))
            continue
        rows[i] = len(out)
        out.append(
            dict(kind=ent['kind'], mask=mask, iscrowd=ent['iscrowd'],
                 parts=ent['parts'], on=ent['on']))
    for ent in out:
        ent['on'] = rows.get(ent['on']) if ent['on'] is not None else None
    return out


def _paco_entities(scene: Scene, size: int,
                   rng: np.random.Generator) -> Tuple[List[dict], np.ndarray]:
    """One PACO-kind object with its parts and the ``valid_region`` around
    it (the object plus a margin, about the target area)."""
    candidates = [
        i for i, e in enumerate(scene.entities)
        if e['kind'] in PACO_KINDS and e['parts']
    ]
    if not candidates:
        return [], np.zeros((size, size), dtype=bool)
    chosen = int(rng.choice(candidates))
    region = _paco_region(scene, [chosen], size, rng,
                          target=TABLE1_SOURCES['t1_paco'].annotated)
    ent = scene.entities[chosen]
    return [
        dict(kind=ent['kind'], mask=ent['mask'], iscrowd=False,
             parts=ent['parts'], on=None)
    ], region


def _annotated(entities: List[dict], size: int) -> np.ndarray:
    union = np.zeros((size, size), dtype=bool)
    for ent in entities:
        union |= ent['mask']
    return union


def draw_image(source: str, rng: np.random.Generator,
               size: int) -> Tuple[Scene, List[dict], np.ndarray]:
    """Draw scenes until one's annotated fraction is within
    :data:`TOLERANCE` of the source's target (or keep the closest of
    :data:`MAX_TRIES`).

    Returns:
        tuple[Scene, list[dict], np.ndarray]: The scene, the entities the
        source annotates and the annotated region (bool ``H x W``).
    """
    spec = ALL_TABLE1_SOURCES[source]
    best = None
    for _ in range(MAX_TRIES):
        scene = generate_scene(
            rng,
            size=size,
            num_stacks=spec.num_stacks,
            crowd_prob=spec.crowd_prob,
            num_rare=spec.num_rare)
        if source == 't1_paco':
            entities, region = _paco_entities(scene, size, rng)
            if not entities:
                continue
        else:
            entities = _entities(scene, spec)
            region = _annotated(entities, size)
        gap = abs(region.mean() - spec.annotated)
        if best is None or gap < best[0]:
            best = (gap, scene, entities, region)
        if gap <= TOLERANCE:
            break
    if best is None:
        raise RuntimeError(f'{source}: no scene with a {PACO_KINDS} thing '
                           f'in {MAX_TRIES} tries')
    return best[1], best[2], best[3]


def annotate_table1(source: str, entities: List[dict], region: np.ndarray,
                    image_id: int, first_ann_id: int,
                    file_name: str) -> Tuple[dict, List[dict]]:
    """The ``images[]`` entry and ``annotations[]`` of one image.

    Args:
        source (str): A key of :data:`ALL_TABLE1_SOURCES`.
        entities (list[dict]): From :func:`draw_image`.
        region (np.ndarray): The annotated region; it becomes
            ``valid_region`` where it is not the whole image.
        image_id (int): Image id.
        first_ann_id (int): Id of the first annotation.
        file_name (str): ``file_name`` of the image entry.
    """
    spec = ALL_TABLE1_SOURCES[source]
    size = region.shape[0]
    img = dict(id=image_id, file_name=file_name, height=size, width=size,
               levels=list(spec.levels), source=source)
    if not region.all():
        img['valid_region'] = encode_mask(region)
    anns = []
    next_id = first_ann_id

    def add(level, rle, **extra):
        nonlocal next_id
        ann = dict(id=next_id, image_id=image_id, level=level,
                   segmentation=rle, area=rle_area(rle), bbox=rle_bbox(rle),
                   iscrowd=0)
        ann.update(extra)
        anns.append(ann)
        next_id += 1
        return ann['id']

    with_parts = PART in spec.levels or source == 't1_paco'
    ent_ids, ent_rles = {}, {}
    for row, ent in enumerate(entities):
        rle = encode_mask(ent['mask'])
        ent_rles[row] = rle
        ent_ids[row] = add(ENTITY, rle, iscrowd=int(ent['iscrowd']),
                           category_id=_CAT_ID[ent['kind']])
        if with_parts:
            for pkind, pmask in ent['parts']:
                add(PART, encode_mask(pmask), entity_id=ent_ids[row],
                    category_id=_CAT_ID[pkind])
    if RELATION in spec.levels:
        for row, ent in enumerate(entities):
            base = ent['on']
            if base is not None:
                add(RELATION, merge_rles([ent_rles[row], ent_rles[base]]),
                    entity_ids=[ent_ids[row], ent_ids[base]],
                    category_id=_CAT_ID['on'], predicate='on')
    return img, anns


def unannotated_fraction(images: Sequence[dict]) -> float:
    """Mean fraction of pixels outside ``valid_region`` (0 where absent)."""
    if not images:
        return 0.0
    fractions = [
        1 - rle_area(img['valid_region']) / (img['height'] * img['width'])
        if img.get('valid_region') else 0.0 for img in images
    ]
    return float(np.mean(fractions))


def make_table1_dataset(out_dir: str,
                        num_images: int = 1000,
                        num_val: Optional[int] = None,
                        seed: int = 0,
                        size: int = 128,
                        progress: bool = False) -> Dict[str, str]:
    """Write the Table 1 profile in the layout of
    :func:`mmaims.datasets.synthetic.make_synthetic_dataset`.

    The five train sources take turns, and so do the two val sources. Every
    image has its own seed ``(seed, split, index)``: the same seed gives
    the same bytes.

    Returns:
        dict: Paths of ``train`` and ``val`` annotation files, and
        ``unannotated`` (source -> measured mean unannotated fraction).
    """
    if num_val is None:
        num_val = max(2, num_images // 5)
    paths: Dict[str, object] = {}
    measured = {}
    image_id = ann_id = 1
    for split_index, (split, count, sources) in enumerate(
        (('train', num_images, tuple(TABLE1_SOURCES)),
         ('val', num_val, tuple(TABLE1_VAL_SOURCES)))):

        def draw(i, first_image_id, first_ann_id, file_name):
            source = sources[i % len(sources)]
            # split_index + 10: other streams than the default profile's
            rng = np.random.default_rng([seed, split_index + 10, i])
            scene, entities, region = draw_image(source, rng, size)
            img, anns = annotate_table1(source, entities, region,
                                        first_image_id, first_ann_id,
                                        file_name)
            return scene.image, img, anns

        paths[split], images, image_id, ann_id = write_split(
            out_dir,
            split,
            count,
            draw,
            info=dict(
                description='mmaims synthetic AIMS dataset, Table 1 profile',
                seed=seed,
                size=size),
            categories=CATEGORIES_WITH_RARE,
            first_ids=(image_id, ann_id),
            progress=progress)
        for source in sources:
            measured[source] = unannotated_fraction(
                [img for img in images if img['source'] == source])
    paths['unannotated'] = measured
    return paths
