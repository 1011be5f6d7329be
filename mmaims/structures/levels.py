# Copyright (c) mmaims contributors. All rights reserved.
"""The three AIMS levels and the links between adjacent ones."""
from typing import Tuple

PART = 'part'
ENTITY = 'entity'
RELATION = 'relation'

#: Levels from low to high. Decoders carry the same names.
LEVELS: Tuple[str, str, str] = (PART, ENTITY, RELATION)

#: Link types of the prediction file: (type, parent level, child level).
LINK_TYPES = (('entity-part', ENTITY, PART), ('relation-entity', RELATION,
                                              ENTITY))


def check_level(level: str, where: str = '') -> str:
    """Return ``level`` if it is a known level name, else raise ValueError.

    Args:
        level (str): Level name to check.
        where (str): Context for the error message, e.g. a file and an
            annotation id.
    """
    if level not in LEVELS:
        context = f'{where}: ' if where else ''
        raise ValueError(f'{context}unknown level "{level}"; expected one of '
                         f'{", ".join(LEVELS)}')
    return level
