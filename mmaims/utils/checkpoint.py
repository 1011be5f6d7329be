# Copyright (c) mmaims contributors. All rights reserved.
"""Weights-only checkpoint loading for mmengine checkpoints under torch 2.6+.

torch >= 2.6 loads with ``weights_only=True``: its unpickler only rebuilds
tensors, containers and allow-listed types, so a checkpoint from the internet
cannot run code. mmengine's runner checkpoints additionally hold numpy scalars
and arrays (in ``meta`` and the message hub) and mmengine's ``HistoryBuffer``;
those types, and nothing else, are allow-listed here. Loading is never
switched to ``weights_only=False``.
"""
import os
import os.path as osp
import pickle
import re
from typing import Callable, List, Optional, Tuple

import numpy as np
import torch
from mmengine.runner import CheckpointLoader


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint needs a type that weights-only loading does not allow."""


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file is empty, truncated or not a torch checkpoint."""


def _numpy_types() -> List[object]:
    core = getattr(np, '_core', None) or np.core
    types = [
        core.multiarray.scalar, core.multiarray._reconstruct, np.ndarray,
        np.dtype
    ]
    # numpy >= 1.25 pickles each dtype as its own class, e.g. Float64DType.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        types += [
            getattr(dtypes, name) for name in dir(dtypes)
            if name.endswith('DType')
        ]
    return types


def _history_buffer_getattr(obj: object, name: str) -> object:
    """A ``getattr`` that only fetches HistoryBuffer statistics methods.

    ``HistoryBuffer`` pickles its ``_statistics_methods`` (``min``, ``max``,
    ``mean``, ``current`` and registered ones) as ``getattr(HistoryBuffer,
    name)``. Allow-listing the builtin ``getattr`` would let a checkpoint
    reach any attribute of any allowed object, so this stand-in is
    registered under the name ``builtins.getattr`` instead.
    """
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and isinstance(name, str):
        method = getattr(HistoryBuffer, name, None)
        if method is not None and \
                method in HistoryBuffer._statistics_methods.values():
            return method
    raise pickle.UnpicklingError(
        f'Unsupported global: getattr({obj!r}, {name!r}) is not a '
        'HistoryBuffer statistics method')


def safe_checkpoint_globals() -> List[object]:
    """Return the types mmengine runner checkpoints need beyond torch's own.

    Returns:
        list: numpy's scalar/array reconstruction helpers and dtype classes,
        :class:`mmengine.logging.HistoryBuffer`, ``collections.Counter``
        (``MultiStepLR`` milestones) and a ``getattr`` restricted to
        HistoryBuffer statistics methods.
    """
    import collections

    from mmengine.logging import HistoryBuffer
    HistoryBuffer()  # fills the class-level default statistics methods
    return _numpy_types() + [
        HistoryBuffer, collections.Counter,
        (_history_buffer_getattr, 'builtins.getattr')
    ]


def load_checkpoint_weights_only(filename: str,
                                 map_location: Optional[object] = None
                                 ) -> dict:
    """Load a local checkpoint with ``weights_only=True``.

    Args:
        filename (str): Path of the checkpoint file.
        map_location: Same as :func:`torch.load`.

    Returns:
        dict: The loaded checkpoint.

    Raises:
        UnsafeCheckpointError: If the file pickles anything outside the
            allow-list (a function, a class with code, ...). The message
            names the file and the refused type.
        CorruptCheckpointError: If the file is empty, truncated or not a
            torch checkpoint; the message names the file.
    """
    with torch.serialization.safe_globals(safe_checkpoint_globals()):
        try:
            return torch.load(
                filename, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as e:
            first_line = str(e).strip().splitlines()
            # a refused type is named as a GLOBAL; anything else (e.g.
            # "Unsupported operand") is bytes that are not a checkpoint
            reason = next((line for line in first_line
                           if 'GLOBAL' in line or 'global' in line), None)
            if reason is None:  # not a refused type: damaged bytes
                raise CorruptCheckpointError(
                    f'checkpoint "{filename}" is damaged: '
                    f'{first_line[0] if first_line else e!r}') from e
            raise UnsafeCheckpointError(
                f'Refusing to load checkpoint "{filename}": it contains '
                'objects that weights-only loading does not allow, so it '
                'could run code when unpickled. Only tensors, containers, '
                'numpy values and mmengine HistoryBuffer are accepted. '
                f'torch says: {reason.strip()}') from e
        except (EOFError, RuntimeError) as e:
            # torch reports an empty file as EOFError and a truncated one
            # as a RuntimeError of its zip reader, neither naming the file
            raise CorruptCheckpointError(
                f'checkpoint "{filename}" is empty or truncated (not a '
                f'complete torch checkpoint): {e}') from e


def find_resume_checkpoint(work_dir: str) -> Tuple[Optional[str], List[str]]:
    """The newest intact checkpoint of a work dir, for ``--resume``.

    The candidates are the file ``last_checkpoint`` names, then the
    ``iter_*.pth`` / ``epoch_*.pth`` of the work dir, newest (largest
    number) first; the first that loads weights-only is the one. A
    missing, empty, truncated or damaged candidate is skipped with its
    reason, so a run killed while writing its latest checkpoint resumes from
    the one before.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        tuple[str | None, list[str]]: The checkpoint (None if there is
        none) and a ``'path: reason'`` line for every candidate skipped.

    Raises:
        UnsafeCheckpointError: A candidate pickles a refused type: that is
            not a damaged file but one to look at, so it is never skipped.
    """
    candidates: List[str] = []
    skipped: List[str] = []
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer, encoding='utf-8', errors='replace') as f:
            named = f.read().strip()
        if named:
            candidates.append(named)
        else:
            skipped.append(f'{pointer}: empty')
    numbered = []
    for name in os.listdir(work_dir) if osp.isdir(work_dir) else []:
        match = re.fullmatch(r'(iter|epoch)_(\d+)\.pth', name)
        if match:
            numbered.append((int(match.group(2)), osp.join(work_dir, name)))
    candidates += [path for _, path in sorted(numbered, reverse=True)]
    seen = set()
    for path in candidates:
        if osp.abspath(path) in seen:
            continue
        seen.add(osp.abspath(path))
        if not osp.isfile(path):
            skipped.append(f'{path}: no such file')
            continue
        try:
            load_checkpoint_weights_only(path, map_location='cpu')
        except CorruptCheckpointError as e:
            skipped.append(f'{path}: {e}')
            continue
        return path, skipped
    return None, skipped


def _load_from_local(filename: str, map_location=None) -> dict:
    import os.path as osp
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return load_checkpoint_weights_only(filename, map_location)


def register_safe_checkpoint_loader(
        loader: Callable = _load_from_local) -> None:
    """Make mmengine load local checkpoints with :func:`torch.load` in
    weights-only mode and the mmengine allow-list.

    It uses mmengine's own extension point,
    :meth:`CheckpointLoader.register_scheme`, for local paths (prefix
    ``''``), so ``load_from``, ``--resume`` and ``load_checkpoint`` all go
    through it.
    """
    CheckpointLoader.register_scheme(prefixes='', loader=loader, force=True)
