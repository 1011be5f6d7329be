# Copyright (c) mmaims contributors. All rights reserved.
"""Atomic writes: a result file is either the old one or the new one,
never half of the new one.

Converters, the evaluation split, the synthetic dataset, the prediction
dump, the offline evaluator and the inferencer write their JSON through
:func:`atomic_open` / :func:`dump_json`, and their binary files (the
inferencer's id-map PNGs) through :func:`dump_bytes`: the data goes to a
temporary file beside the target, is flushed to disk, and replaces the
target in one ``os.replace``. A kill or a full disk during the write leaves
the previous file as it was and no temporary file behind.
"""
import contextlib
import json
import os
import os.path as osp
import tempfile
from typing import IO, Any, Iterator


@contextlib.contextmanager
def atomic_open(path: str,
                encoding: str = 'utf-8',
                binary: bool = False) -> Iterator[IO]:
    """Open ``path`` for writing; the file appears only when the ``with``
    block ends without an exception.

    Args:
        path (str): The file to (re)write. Its folder is created.
        encoding (str): Text encoding. Defaults to UTF-8.
        binary (bool): Open in binary mode (``encoding`` is then unused).
            Defaults to False: text.

    Yields:
        IO: The temporary file to write to (``TextIO``, or ``BinaryIO``
        with ``binary``).

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
    mode = dict(mode='wb') if binary else dict(mode='w', encoding=encoding)
    try:
        with os.fdopen(fd, **mode) as f:
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


def dump_bytes(data: bytes, path: str) -> None:
    """Write ``data`` into ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, binary=True) as f:
        f.write(data)
