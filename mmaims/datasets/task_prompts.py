# Copyright (c) mmaims contributors. All rights reserved.
"""Which image can serve which sample type of paper Table 5.

The table itself (sample types, prompt types, pools, supervision) is
:mod:`mmaims.structures.tasks`. An image of a type's pool serves the type
only if :func:`can_serve` says so (a full-image type needs its decoder's
level among the image's exhaustive ``levels``, so type 2 effectively draws
from PPP and type 3 from COCO-PSG). The exact prompt and targets of each
type are built by :class:`mmaims.datasets.transforms.SampleTaskPrompt`;
``docs/data.md`` describes them.
"""
from typing import Iterable, Sequence

from mmaims.structures import ENTITY, LEVELS, PART, RELATION
from mmaims.structures.tasks import SAMPLE_TYPES, check_sample_type


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
