# Copyright (c) mmaims contributors. All rights reserved.
"""Names of the in-memory contract (docs/data_sample.md): the data-sample
field of every level's targets, crowd regions and predictions, the pixel
maps, and the link types between adjacent levels.

Every module that reads or writes these fields takes the names from here.
A link type has one name, the one of the prediction file
(docs/formats.md section 2: ``"entity-part"``, ``"relation-entity"``);
:attr:`LinkType.key` is its identifier form (``entity_part``), used where
a Python identifier or a metric / loss key is needed.
"""
from typing import Dict, NamedTuple, Tuple

from .levels import ENTITY, PART, RELATION

#: level -> field of its targets (``InstanceData``; the entity level uses
#: mmdet's ``gt_instances``).
GT_FIELDS: Dict[str, str] = {
    PART: 'gt_part_instances',
    ENTITY: 'gt_instances',
    RELATION: 'gt_relation_instances',
}
#: level -> field of its crowd (ignore) regions.
IGNORED_FIELDS: Dict[str, str] = {
    PART: 'ignored_part_instances',
    ENTITY: 'ignored_instances',
    RELATION: 'ignored_relation_instances',
}
#: level -> field of its predictions.
PRED_FIELDS: Dict[str, str] = {
    PART: 'pred_part_instances',
    ENTITY: 'pred_instances',
    RELATION: 'pred_relation_instances',
}
#: field of the drill-down outputs of an evaluation sample (``masks``,
#: ``scores``, ``prompt_index`` into ``metainfo['drill_down_prompts']``).
PROMPTED_FIELD = 'pred_prompted_instances'
#: every ``InstanceData`` field of a training sample: targets, then crowd
#: regions, entity level first.
INSTANCE_FIELDS: Tuple[str, ...] = tuple(
    fields[level] for fields in (GT_FIELDS, IGNORED_FIELDS)
    for level in (ENTITY, PART, RELATION))
#: per-pixel map of a training sample whose prompt was roughened
#: (``SampleTaskPrompt(rough_prompts=...)``): where the mask losses count,
#: in place of ``prompt_mask`` (the exact prompt united with the rough one,
#: so that the true children stay supervised where the rough prompt missed
#: them).
LOSS_REGION_FIELD = 'loss_region'
#: metainfo key (bool) of a sample whose prompt is rough: roughened by
#: ``SampleTaskPrompt`` in training, drawn rather than picked at inference
#: (``AIMS.predict_prompt(rough=...)``); read by an MPE with ``rough_flag``.
PROMPT_ROUGH_KEY = 'prompt_rough'
#: per-pixel maps of a sample (``PixelData``, ``1 x H x W``): the mask
#: prompt, the annotated area and, optionally, the loss region.
PIXEL_FIELDS: Tuple[str, ...] = ('prompt_mask', 'valid_region',
                                 LOSS_REGION_FIELD)


class LinkType(NamedTuple):
    """A link type: ``name`` as in the prediction file, parent and child
    level. Unpacks as ``(name, parent, child)``."""
    name: str
    parent: str
    child: str

    @property
    def key(self) -> str:
        """Identifier form of the name (``entity_part``): association pair
        keys, loss keys (``entity_part.loss_assoc``) and metric keys
        (``entity_part_AR@100``)."""
        return self.name.replace('-', '_')

    @property
    def field(self) -> str:
        """Data-sample field of the predicted links of this type."""
        return f'pred_{self.key}_links'


#: The link types, each between a level and the one below it.
LINK_TYPES: Tuple[LinkType, LinkType] = (LinkType('entity-part', ENTITY,
                                                  PART),
                                         LinkType('relation-entity',
                                                  RELATION, ENTITY))
#: link type name -> field of its predicted links.
LINK_FIELDS: Dict[str, str] = {t.name: t.field for t in LINK_TYPES}


def link_type(name_or_key: str) -> LinkType:
    """The link type named ``name_or_key`` (``'entity-part'`` or its key
    ``'entity_part'``); raise ValueError for an unknown one."""
    for t in LINK_TYPES:
        if name_or_key in (t.name, t.key):
            return t
    raise ValueError(f'unknown link type {name_or_key!r}; expected one of '
                     f'{[t.name for t in LINK_TYPES]}')
