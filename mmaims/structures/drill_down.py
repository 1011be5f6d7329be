# Copyright (c) mmaims contributors. All rights reserved.
"""The drill-down prompts of an evaluation image (docs/formats.md section 3,
"Drill-down").

A drill-down prompt is a ground-truth mask given to the decoder of the next
level down, with that mask's ground-truth children as targets (paper Sec. 1,
Fig. 4-5, Table 7b). There is one kind per link type:

- ``entity-part``: an entity that has parts is given to the part decoder
  (prompt type ``one_entity``); its parts are the targets;
- ``relation-entity``: the union of a relation's two entities is given to
  the relation decoder (prompt type ``two_entities``); the two entities are
  the targets.

A prompt is scored only on an image that lists the child level for
``entity-part`` (its parts are then all annotated) and the relation level
for ``relation-entity``; elsewhere it is skipped and counted, never scored
as a miss. :func:`drill_down_prompts` is the one place these rules are
written: the test pipeline (:class:`mmaims.datasets.transforms.
LoadDrillDownPrompts`) and the metric's ground truth both call it, so the
model is given exactly the prompts the metric scores.
"""
from collections import Counter
from typing import Dict, List, NamedTuple, Sequence, Tuple

from .fields import LINK_TYPES, LinkType, link_type
from .levels import ENTITY, PART, RELATION

#: link type name -> prompt type (paper Table 5) of its drill-down prompts.
DRILL_DOWN_PROMPT_TYPES: Dict[str, str] = {
    'entity-part': 'one_entity',
    'relation-entity': 'two_entities',
}
#: drill-down prompt type -> the level of the mask it is (the parent level
#: of its link type): a one-entity prompt is an entity, a two-entity prompt
#: a relation.
DRILL_DOWN_PROMPT_LEVELS: Dict[str, str] = {
    prompt_type: link_type(name).parent
    for name, prompt_type in DRILL_DOWN_PROMPT_TYPES.items()
}
#: link type name -> the level whose presence in an image's ``levels``
#: makes its drill-down prompts scorable.
_REQUIRED_LEVEL: Dict[str, str] = {
    'entity-part': PART,
    'relation-entity': RELATION,
}


class AnnotationLinks(NamedTuple):
    """What :func:`drill_down_prompts` needs of one annotation.

    Attributes:
        id (int): Annotation id.
        level (str): ``'part'``, ``'entity'`` or ``'relation'``.
        crowd (bool): ``iscrowd``.
        entity_ids (tuple[int, ...]): A part's parent entity (one id, or
            none), a relation's two entities (or none); empty for entities.
        area (int): Mask area in pixels.
    """
    id: int
    level: str
    crowd: bool
    entity_ids: Tuple[int, ...]
    area: int


class DrillDownPrompt(NamedTuple):
    """One scorable drill-down prompt.

    Attributes:
        type (str): Link type name, ``'entity-part'`` or
            ``'relation-entity'``.
        ann_id (int): The parent annotation: the entity, or the relation.
        prompt_ann_ids (tuple[int, ...]): Annotations whose union is the
            prompt mask (the entity; the relation's two entities).
        target_ann_ids (tuple[int, ...]): The targets (the entity's parts,
            crowd ones included as ignore regions; the two entities).
    """
    type: str
    ann_id: int
    prompt_ann_ids: Tuple[int, ...]
    target_ann_ids: Tuple[int, ...]

    @property
    def prompt_type(self) -> str:
        """Prompt type of paper Table 5."""
        return DRILL_DOWN_PROMPT_TYPES[self.type]

    @property
    def link_type(self) -> LinkType:
        """The link type whose parent is prompted and whose children are
        the targets."""
        return link_type(self.type)


def annotation_links(level: str, ann_id: int, crowd: bool, entity_id,
                     entity_ids, area: int) -> AnnotationLinks:
    """:class:`AnnotationLinks` from the fields of a parsed annotation or of
    a dataset instance (``entity_id`` / ``entity_ids`` may be None)."""
    if level == PART:
        parents = () if entity_id is None else (int(entity_id), )
    elif level == RELATION:
        parents = tuple(int(i) for i in entity_ids or ())
    else:
        parents = ()
    return AnnotationLinks(int(ann_id), level, bool(crowd), parents, int(area))


def drill_down_prompts(
    levels: Sequence[str], annotations: Sequence[AnnotationLinks]
) -> Tuple[List[DrillDownPrompt], Dict[str, Counter]]:
    """The drill-down prompts of one image, and those skipped.

    Candidates are every non-crowd entity that is the ``entity_id`` of a
    part, and every non-crowd relation with ``entity_ids``. A candidate is
    skipped (counted by reason) when the image does not list the level its
    kind needs, when all its targets are crowd, or when a mask of its prompt is
    empty.

    Args:
        levels (Sequence[str]): The image's exhaustive levels.
        annotations (Sequence[AnnotationLinks]): All annotations of the
            image.

    Returns:
        tuple[list[DrillDownPrompt], dict[str, Counter]]: The prompts (entity
        prompts in annotation order, then relation prompts) and, per link
        type name, the skipped candidates counted by reason.
    """
    by_id = {ann.id: ann for ann in annotations}
    parts_of: Dict[int, List[int]] = {}
    for ann in annotations:
        if ann.level == PART and ann.entity_ids:
            parts_of.setdefault(ann.entity_ids[0], []).append(ann.id)
    prompts: List[DrillDownPrompt] = []
    skipped: Dict[str, Counter] = {t.name: Counter() for t in LINK_TYPES}
    candidates = []
    for ann in annotations:
        if ann.level == ENTITY and ann.id in parts_of and not ann.crowd:
            candidates.append(('entity-part', ann, (ann.id, ),
                               tuple(parts_of[ann.id])))
    for ann in annotations:
        if ann.level == RELATION and ann.entity_ids and not ann.crowd:
            candidates.append(('relation-entity', ann, tuple(ann.entity_ids),
                               tuple(ann.entity_ids)))
    for kind, ann, prompt_ids, target_ids in candidates:
        required = _REQUIRED_LEVEL[kind]
        if required not in levels:
            skipped[kind][f'image does not list {required}'] += 1
        elif all(by_id[i].crowd for i in target_ids):
            skipped[kind]['all targets are crowd'] += 1
        elif any(by_id[i].area == 0 for i in prompt_ids):
            # the dataset drops empty masks (and relations on them), so the
            # model never sees such a prompt
            skipped[kind]['empty mask in the prompt'] += 1
        else:
            prompts.append(
                DrillDownPrompt(kind, ann.id, prompt_ids, target_ids))
    return prompts, skipped
