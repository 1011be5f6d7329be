# Copyright (c) mmaims contributors. All rights reserved.
"""The three AIMS levels (the link types between them: :mod:`.fields`)."""
from typing import Tuple

PART = 'part'
ENTITY = 'entity'
RELATION = 'relation'

#: Levels from low to high. Decoders carry the same names.
LEVELS: Tuple[str, str, str] = (PART, ENTITY, RELATION)


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
