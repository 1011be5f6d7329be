# Copyright (c) mmaims contributors. All rights reserved.
"""The eight sample types of AIMS (paper Table 5) and which image can serve
which type.

====  =============  ========  ==========================================
type  prompt         decoder   default pool (paper dataset names)
====  =============  ========  ==========================================
0     full image     all       evaluation / test (one-step inference)
1     full image     entity    coco, entityseg, ppp, psg
2     full image     part      coco, entityseg, ppp, psg
3     full image     relation  coco, entityseg, ppp, psg
4     partial image  entity    coco, entityseg, ppp, psg, paco
5     partial image  part      coco, entityseg, ppp, psg, paco
6     partial image  relation  coco, entityseg, ppp, psg, paco
7     one entity     part      ppp, paco
8     two entities   relation  psg
====  =============  ========  ==========================================

An image of the pool serves a type only if :func:`can_serve` says so (a
full-image type needs its decoder's level among the image's exhaustive
``levels``, so type 2 effectively draws from PPP and type 3 from COCO-PSG).
The exact prompt and targets of each type are built by
:class:`mmaims.datasets.transforms.SampleTaskPrompt`; ``docs/data.md``
describes them.
"""
from typing import Dict, Iterable, Sequence, Tuple

from mmaims.structures import ENTITY, LEVELS, PART, RELATION

#: sample type -> (prompt type, decoder)
SAMPLE_TYPES: Dict[int, Tuple[str, str]] = {
    1: ('full', ENTITY),
    2: ('full', PART),
    3: ('full', RELATION),
    4: ('partial', ENTITY),
    5: ('partial', PART),
    6: ('partial', RELATION),
    7: ('one_entity', PART),
    8: ('two_entities', RELATION),
}

PROMPT_TYPES = ('full', 'partial', 'one_entity', 'two_entities')

_FULL_POOL = ('coco', 'entityseg', 'ppp', 'psg')
_PARTIAL_POOL = ('coco', 'entityseg', 'ppp', 'psg', 'paco')

#: Paper Table 5: sample type -> dataset names of its pool.
DEFAULT_POOLS: Dict[int, Tuple[str, ...]] = {
    1: _FULL_POOL,
    2: _FULL_POOL,
    3: _FULL_POOL,
    4: _PARTIAL_POOL,
    5: _PARTIAL_POOL,
    6: _PARTIAL_POOL,
    7: ('ppp', 'paco'),
    8: ('psg', ),
}


def check_sample_type(sample_type: int) -> int:
    """Return ``sample_type`` if it is 0..8, else raise ValueError."""
    if sample_type != 0 and sample_type not in SAMPLE_TYPES:
        raise ValueError(f'unknown sample type {sample_type!r}; expected 0 '
                         '(evaluation) or 1..8 (paper Table 5)')
    return int(sample_type)


def eval_task(levels: Sequence[str]) -> dict:
    """The ``task`` of a one-step evaluation sample (sample type 0).

    Full-image prompt, every decoder, each matched to its own level;
    ``exhaustive`` is whether the image lists that level.

    Args:
        levels (Sequence[str]): The image's exhaustive levels.

    Returns:
        dict: ``sample_type=0``, ``prompt_type='full'``, ``decoder=None``
        (all decoders) and ``supervision``.
    """
    return dict(
        sample_type=0,
        prompt_type='full',
        decoder=None,
        supervision={
            level: dict(level=level, exhaustive=level in levels)
            for level in LEVELS
        })


def supervision(sample_type: int,
                levels: Sequence[str],
                supervise_all_levels: bool = True) -> Dict[str, dict]:
    """``task['supervision']`` of a training sample (types 1-8).

    Maps each supervised decoder to the level its queries are matched to and
    whether that level's targets are exhaustive (docs/data_sample.md). It
    depends only on the type, the image's exhaustive ``levels`` and
    ``supervise_all_levels``; :class:`SampleTaskPrompt` builds the prompt
    and targets that go with it.

    - types 1-3: the type's decoder at its own level, exhaustive;
    - types 4-6: the type's decoder at its own level, exhaustive for the
      entity level (the prompt is made of exactly those entities) and for
      a part / relation level listed in ``levels``;
    - with ``supervise_all_levels``, types 1-6 also supervise every other
      decoder whose level is exhaustive on the sample (full: listed in
      ``levels``; partial: entity, or listed), so that the association
      module sees pairs of levels;
    - type 7: the part decoder at the part level, exhaustive iff listed;
    - type 8: the relation decoder at the **entity** level, exhaustive.

    Args:
        sample_type (int): 1..8.
        levels (Sequence[str]): The image's exhaustive levels.
        supervise_all_levels (bool): See above. Defaults to True.

    Returns:
        dict[str, dict]: Decoder -> ``dict(level=..., exhaustive=...)``.
    """
    if check_sample_type(sample_type) == 0:
        raise ValueError('sample type 0 (evaluation) has no training '
                         'supervision; see eval_task()')
    prompt_type, decoder = SAMPLE_TYPES[sample_type]
    if sample_type == 7:
        return {PART: dict(level=PART, exhaustive=PART in levels)}
    if sample_type == 8:
        return {RELATION: dict(level=ENTITY, exhaustive=True)}
    if prompt_type == 'full':
        exhaustive_levels = [lv for lv in LEVELS if lv in levels]
    else:
        exhaustive_levels = [
            lv for lv in LEVELS if lv == ENTITY or lv in levels
        ]
    result = {
        decoder: dict(level=decoder, exhaustive=decoder in exhaustive_levels)
    }
    if supervise_all_levels:
        for level in exhaustive_levels:
            result.setdefault(level, dict(level=level, exhaustive=True))
    return result


def image_statistics(instances: Iterable[dict]) -> dict:
    """Counts of a data info's instances used to decide what it can serve.

    Args:
        instances (Iterable[dict]): ``instances`` of a
            :class:`HierarchicalCocoDataset` data info.

    Returns:
        dict: ``entity`` / ``part`` / ``relation``: non-crowd instances per
        level; ``entities_with_parts``: non-crowd entities with at least one
        non-crowd part; ``relations_with_entities``: non-crowd relations
        whose two entities are non-crowd.
    """
    instances = list(instances)
    entity_ok = {
        i['ann_id']
        for i in instances if i['level'] == ENTITY and not i['ignore_flag']
    }
    stats = {level: 0 for level in LEVELS}
    parents, relations = set(), 0
    for inst in instances:
        if inst['ignore_flag']:
            continue
        stats[inst['level']] += 1
        if inst['level'] == PART and inst.get('entity_id') in entity_ok:
            parents.add(inst['entity_id'])
        elif inst['level'] == RELATION and all(
                e in entity_ok for e in inst['entity_ids']):
            relations += 1
    stats['entities_with_parts'] = len(parents)
    stats['relations_with_entities'] = relations
    return stats


def can_serve(levels: Sequence[str], stats: dict, sample_type: int) -> bool:
    """Whether an image can serve ``sample_type``.

    - 0: always.
    - 1-3 (full image, decoder level L): L is listed in ``levels`` (only
      exhaustive levels may supervise full-image targets).
    - 4-6 (partial image, decoder level L): the image has a non-crowd
      entity (to build the prompt) and either L is the entity level (which
      is exhaustive inside a prompt made of entities), L is listed in
      ``levels``, or at least one linked non-crowd instance of L exists
      (a part with its entity, a relation with both entities) to give the
      decoder a non-exhaustive target.
    - 7: an entity with at least one part.
    - 8: a relation with both entities.

    Args:
        levels (Sequence[str]): The image's exhaustive levels.
        stats (dict): Output of :func:`image_statistics`.
        sample_type (int): 0..8.

    Returns:
        bool: Whether the image can serve the type.
    """
    check_sample_type(sample_type)
    if sample_type == 0:
        return True
    prompt_type, decoder = SAMPLE_TYPES[sample_type]
    if prompt_type == 'full':
        return decoder in levels
    if prompt_type == 'partial':
        if stats[ENTITY] == 0:
            return False
        if decoder == ENTITY or decoder in levels:
            return True
        if decoder == PART:
            return stats['entities_with_parts'] > 0
        return stats['relations_with_entities'] > 0
    if prompt_type == 'one_entity':
        return stats['entities_with_parts'] > 0
    return stats['relations_with_entities'] > 0
