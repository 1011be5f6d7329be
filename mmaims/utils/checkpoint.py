# Copyright (c) mmaims contributors. All rights reserved.
"""Weights-only checkpoint loading for mmengine checkpoints under torch 2.6+.

torch >= 2.6 loads with ``weights_only=True``: its unpickler only rebuilds
tensors, containers and allow-listed types, so a checkpoint from the internet
cannot run code. mmengine's runner checkpoints additionally hold numpy scalars
and arrays (in ``meta`` and the message hub) and mmengine's ``HistoryBuffer``;
those types, and nothing else, are allow-listed here. Loading is never
switched to ``weights_only=False``.
"""
import pickle
from typing import Callable, List, Optional

import numpy as np
import torch
from mmengine.runner import CheckpointLoader


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint needs a type that weights-only loading does not allow."""


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
    """
    with torch.serialization.safe_globals(safe_checkpoint_globals()):
        try:
            return torch.load(
                filename, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as e:
            first_line = str(e).strip().splitlines()
            reason = next((line for line in first_line
                           if 'GLOBAL' in line or 'Unsupported' in line),
                          first_line[0] if first_line else repr(e))
            raise UnsafeCheckpointError(
                f'Refusing to load checkpoint "{filename}": it contains '
                'objects that weights-only loading does not allow, so it '
                'could run code when unpickled. Only tensors, containers, '
                'numpy values and mmengine HistoryBuffer are accepted. '
                f'torch says: {reason.strip()}') from e


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
