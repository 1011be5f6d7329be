# Copyright (c) mmaims contributors. All rights reserved.
"""Paper Table 5: the eight sample types of AIMS (a mask prompt type and a
decoder), and the ``task`` a sample carries (docs/data_sample.md).

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

This module is the one place the table is written: the data layer draws
samples from it (:mod:`mmaims.datasets.task_prompts` decides which image
can serve which type), :func:`supervision` derives what a sample trains,
and :func:`parse_task` is the one reader of a sample's ``task`` metainfo,
used by both heads and the detector.
"""
from typing import Dict, Mapping, NamedTuple, Optional, Sequence, Tuple

from .levels import ENTITY, LEVELS, PART, RELATION, check_level

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

#: sample type -> dataset names of its pool
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

#: prompt inference: prompt type -> decoder (one entity is split into its
#: parts by the part decoder, two entities in contact into the two entities
#: by the relation decoder)
DEFAULT_PROMPT_DECODERS: Dict[str, str] = dict(
    one_entity=PART, two_entities=RELATION)
#: prompt inference: decoder -> the level its masks are (the relation
#: decoder under a two-entity prompt yields entities: sample type 8)
DEFAULT_PROMPT_OUTPUT_LEVELS: Dict[str, str] = {
    PART: PART,
    ENTITY: ENTITY,
    RELATION: ENTITY
}
#: prompt inference: decoder -> the prompt type a prompt given to it is
#: recorded as (an entity split into parts, a relation into its two
#: entities, a region into entities)
DEFAULT_PROMPT_TYPES: Dict[str, str] = {
    PART: 'one_entity',
    RELATION: 'two_entities',
    ENTITY: 'partial'
}


def check_sample_type(sample_type: int) -> int:
    """Return ``sample_type`` if it is 0..8, else raise ValueError."""
    if sample_type != 0 and sample_type not in SAMPLE_TYPES:
        raise ValueError(f'unknown sample type {sample_type!r}; expected 0 '
                         '(evaluation) or 1..8 (paper Table 5)')
    return int(sample_type)


def sample_type_of(prompt_type: str, decoder: str) -> Optional[int]:
    """The sample type of a (prompt type, decoder) pair, or None if Table 5
    has no such row (e.g. a one-entity prompt to the entity decoder)."""
    for sample_type, row in SAMPLE_TYPES.items():
        if row == (prompt_type, decoder):
            return sample_type
    return None


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


class Supervision(NamedTuple):
    """What a sample asks of one decoder: the level its queries are matched
    to, and whether that level's targets are exhaustive."""
    level: str
    exhaustive: bool


class Task(NamedTuple):
    """A sample's parsed ``task`` metainfo.

    Attributes:
        sample_type (int, optional): 0..8, or None when not recorded.
        prompt_type (str, optional): One of :data:`PROMPT_TYPES`.
        decoder (str, optional): The type's decoder; None for all (type 0).
        supervision (dict[str, Supervision], optional): Decoder -> what it
            is trained on; None when the sample carries no supervision
            (inference samples).
    """
    sample_type: Optional[int]
    prompt_type: Optional[str]
    decoder: Optional[str]
    supervision: Optional[Dict[str, Supervision]]


def parse_task(metainfo: Mapping,
               decoders: Optional[Sequence[str]] = None,
               require_supervision: bool = False) -> Task:
    """Read and check a sample's ``task`` metainfo.

    The one reader of ``task`` (docs/data_sample.md): the decoder head, the
    association head and the detector all go through it, so a malformed
    task is reported the same way wherever it is met.

    Args:
        metainfo (Mapping): The sample's metainfo (``img_id`` names the
            sample in errors).
        decoders (Sequence[str], optional): Decoder names of the model; a
            supervision naming another decoder is an error. None: not
            checked.
        require_supervision (bool): Raise if the sample has no
            ``task['supervision']`` (training). Defaults to False.

    Returns:
        Task: The parsed task; all None for a sample without ``task``.

    Raises:
        KeyError: ``task['supervision']`` missing when required, naming an
            unknown decoder, or an entry without ``level`` and
            ``exhaustive``.
        ValueError: An unknown level, prompt type or sample type.
    """
    where = f'image {metainfo.get("img_id", metainfo.get("img_path", "?"))}'
    task = metainfo.get('task')
    if task is None:
        task = {}
    sup = task.get('supervision') if isinstance(task, Mapping) else None
    if not isinstance(task, Mapping) or (require_supervision
                                         and not isinstance(sup, Mapping)):
        raise KeyError(f'{where}: metainfo["task"]["supervision"] is '
                       'missing; samples must be packed by '
                       'PackAIMSInputs (docs/data_sample.md)')
    prompt_type = task.get('prompt_type')
    if prompt_type is not None and prompt_type not in PROMPT_TYPES:
        raise ValueError(f'{where}: unknown prompt type {prompt_type!r}; '
                         f'expected one of {PROMPT_TYPES}')
    sample_type = task.get('sample_type')
    if sample_type is not None:
        check_sample_type(sample_type)
    decoder = task.get('decoder')
    if decoder is not None:
        check_level(decoder, f'{where}, task decoder')
    parsed = None
    if sup is not None:
        if not isinstance(sup, Mapping):
            raise KeyError(f'{where}: metainfo["task"]["supervision"] must '
                           f'be a dict, got {type(sup).__name__}')
        if decoders is not None:
            unknown = set(sup) - set(decoders)
            if unknown:
                raise KeyError(f'{where}: supervision names decoders '
                               f'{sorted(unknown)} that this head does not '
                               f'have ({tuple(decoders)})')
        parsed = {}
        for name, entry in sup.items():
            if not isinstance(entry, Mapping) or 'level' not in entry or \
                    'exhaustive' not in entry:
                raise KeyError(f'{where}: supervision["{name}"] must have '
                               f'"level" and "exhaustive", got {entry!r}')
            level = check_level(entry['level'], f'{where}, supervision of '
                                f'decoder "{name}"')
            parsed[name] = Supervision(level, bool(entry['exhaustive']))
    return Task(sample_type, prompt_type, decoder, parsed)
