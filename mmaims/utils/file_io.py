# Copyright (c) mmaims contributors. All rights reserved.
"""Atomic writes: a result file is either the old one or the new one,
never half of the new one.

Converters, the evaluation split, the synthetic dataset, the prediction
dump, the offline evaluator and the inferencer write their JSON through
:func:`atomic_open` / :func:`dump_json`: the data goes to a temporary file
beside the target, is flushed to disk, and replaces the target in one
``os.replace``. A kill or a full disk during the write leaves the previous
file as it was and no temporary file behind.
"""
import contextlib
import json
import os
import os.path as osp
import tempfile
from typing import Any, Iterator, TextIO


@contextlib.contextmanager
def atomic_open(path: str, encoding: str = 'utf-8') -> Iterator[TextIO]:
    """Open ``path`` for writing text; the file appears only when the
    ``with`` block ends without an exception.

    Args:
        path (str): The file to (re)write. Its folder is created.
        encoding (str): Text encoding. Defaults to UTF-8.

    Yields:
        TextIO: The temporary file to write to.

    Raises:
        IsADirectoryError: If ``path`` is a folder (checked before writing).
    """
    path = osp.abspath(path)
    if osp.isdir(path):
        raise IsADirectoryError(f'{path} is a folder, not a file to write')
    folder = osp.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'w', encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def dump_json(obj: Any, path: str, **kwargs) -> None:
    """``json.dump(obj)`` into ``path`` atomically (see
    :func:`atomic_open`); ``kwargs`` go to :func:`json.dump`."""
    with atomic_open(path) as f:
        json.dump(obj, f, **kwargs)
