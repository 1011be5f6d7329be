# Copyright (c) mmaims contributors. All rights reserved.
"""The non-overlapping id map of one level (docs/formats.md section 2.1).

An id map is a 16-bit single-channel PNG at the original image size: pixel
value 0 is no mask, value ``k`` is the mask with id ``k`` of the prediction
file (docs/formats.md section 2), so the PNG and the JSON link. Each pixel
belongs to the highest-scoring mask covering it (ties: the lower id), the
non-overlap rule of the AP^e metric
(:func:`mmaims.evaluation.functional.make_disjoint_rles`). Only the part
and entity levels are non-overlapping; relation masks overlap by design
and have no id map.

:func:`prediction_to_id_map` makes the map of a prediction dict,
:func:`save_id_map` writes it (atomically), :func:`load_id_map` reads it
back and :func:`id_map_to_masks` turns it into binary masks keyed by id.
"""
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from mmaims.utils.file_io import dump_bytes
from .levels import ENTITY, PART, check_level
from .mask import decode_rle

#: levels that have an id map: their masks are made disjoint for AP^e
ID_MAP_LEVELS: Tuple[str, str] = (PART, ENTITY)
#: the largest id a 16-bit PNG holds (0 is "no mask")
ID_MAP_MAX_ID = np.iinfo(np.uint16).max


def masks_to_id_map(rles: Sequence[dict], scores: Sequence[float],
                    ids: Sequence[int], shape: Tuple[int, int]) -> np.ndarray:
    """The id map of RLE masks: each pixel gets the id of the
    highest-scoring mask covering it (ties: the lower id), 0 where none.

    Args:
        rles (Sequence[dict]): ``N`` compressed RLEs of size ``shape``.
        scores (Sequence[float]): ``N`` scores.
        ids (Sequence[int]): ``N`` ids, in ``1..65535``.
        shape (tuple[int, int]): ``(H, W)`` of the map.

    Returns:
        np.ndarray: uint16 ``H x W``.

    Raises:
        ValueError: An id outside ``1..65535`` (a 16-bit PNG holds no
            more), or a mask of another size than ``shape``.
    """
    # evaluation/ imports structures/: imported here to keep structures/
    # importable on its own
    from mmaims.evaluation.functional.nonoverlap import make_disjoint_rles
    shape = tuple(int(s) for s in shape)
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if len(ids) != len(rles):
        raise ValueError(f'{len(rles)} masks but {len(ids)} ids')
    if len(ids) and ids.min() < 1:
        raise ValueError(f'mask id {int(ids.min())} cannot be in an id map: '
                         'ids start at 1 (0 is "no mask")')
    if len(ids) and ids.max() > ID_MAP_MAX_ID:
        raise ValueError(
            f'mask id {int(ids[ids > ID_MAP_MAX_ID][0])} does not fit a '
            f'16-bit id map (ids 1..{ID_MAP_MAX_ID}): more than '
            f'{ID_MAP_MAX_ID} masks')
    for mask_id, rle in zip(ids.tolist(), rles):
        if tuple(int(s) for s in rle['size']) != shape:
            raise ValueError(f'mask id {mask_id} has size '
                             f'{list(rle["size"])}, the id map {list(shape)}')
    id_map = np.zeros(shape, dtype=np.uint16)
    keep, disjoint = make_disjoint_rles(list(rles), scores, ids)
    for row, rle in zip(keep.tolist(), disjoint):
        id_map[decode_rle(rle)] = ids[row]
    return id_map


def prediction_to_id_map(
        prediction: dict,
        level: str = ENTITY,
        score_thr: Optional[float] = None,
        image_id: Optional[int] = None,
        shape: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """The id map of one level of a prediction dict (docs/formats.md
    section 2), e.g. one image's inferencer result.

    The masks of ``level`` of the image with a score above ``score_thr``
    take part; drill-down outputs (masks with a ``prompt_id``) do not.

    Args:
        prediction (dict): ``masks`` with ``id``, ``image_id``, ``level``,
            ``segmentation`` (compressed RLE) and ``score``; ``height`` /
            ``width`` as the inferencer writes them.
        level (str): ``'entity'`` or ``'part'``. Defaults to ``'entity'``.
        score_thr (float, optional): Masks with a score <= this are left
            out. Defaults to None: every mask.
        image_id (int, optional): The image, when the prediction has masks
            of several. Defaults to its only one.
        shape (tuple[int, int], optional): ``(H, W)``. Defaults to the
            prediction's ``height`` / ``width``, else the masks' size.

    Returns:
        np.ndarray: uint16 ``H x W``, values the mask ids.

    Raises:
        ValueError: ``'relation'`` or an unknown level, masks of several
            images without ``image_id``, no size known, or a mask id that
            does not fit 16 bits (see :func:`masks_to_id_map`).
    """
    check_level(level)
    if level not in ID_MAP_LEVELS:
        raise ValueError(f'no id map for the {level} level: its masks '
                         'overlap by design; id maps are for '
                         f'{", ".join(ID_MAP_LEVELS)}')
    masks = [m for m in prediction['masks'] if m.get('prompt_id') is None]
    if image_id is None:
        image_ids = sorted({m['image_id'] for m in masks})
        if len(image_ids) > 1:
            raise ValueError(f'the prediction has masks of images '
                             f'{image_ids}; choose one with image_id')
    else:
        masks = [m for m in masks if m['image_id'] == image_id]
    masks = [
        m for m in masks if m['level'] == level and (
            score_thr is None or m['score'] > score_thr)
    ]
    if shape is None and 'height' in prediction and 'width' in prediction:
        shape = (prediction['height'], prediction['width'])
    if shape is None and masks:
        shape = masks[0]['segmentation']['size']
    if shape is None:
        raise ValueError('the id map needs the image size: the prediction '
                         'has no "height" / "width" and no mask')
    try:
        return masks_to_id_map([m['segmentation'] for m in masks],
                               [m['score'] for m in masks],
                               [m['id'] for m in masks], shape)
    except ValueError as e:
        where = f'image id {masks[0]["image_id"]}: ' if masks else ''
        raise ValueError(f'{where}{level} id map: {e}') from e


def save_id_map(id_map: np.ndarray, path: str) -> None:
    """Write an id map as a 16-bit PNG, atomically
    (:func:`mmaims.utils.dump_bytes`).

    Args:
        id_map (np.ndarray): ``H x W`` integer ids in ``0..65535``.
        path (str): The ``.png`` file; its folder is created.

    Raises:
        ValueError: Not ``H x W`` or an id outside ``0..65535``.
    """
    id_map = np.asarray(id_map)
    if id_map.ndim != 2 or not np.issubdtype(id_map.dtype, np.integer):
        raise ValueError(f'{path}: an id map is H x W integers, got '
                         f'{id_map.dtype} of shape {id_map.shape}')
    if id_map.size and (id_map.min() < 0 or id_map.max() > ID_MAP_MAX_ID):
        raise ValueError(f'{path}: ids must be in 0..{ID_MAP_MAX_ID}, got '
                         f'{int(id_map.min())}..{int(id_map.max())}')
    ok, data = cv2.imencode('.png', id_map.astype(np.uint16))
    if not ok:
        raise ValueError(f'{path}: OpenCV could not encode the id map')
    dump_bytes(data.tobytes(), path)


def load_id_map(path: str) -> np.ndarray:
    """Read an id map PNG (:func:`save_id_map`).

    Args:
        path (str): The PNG file.

    Returns:
        np.ndarray: uint16 ``H x W``.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not a readable image, or not a single-channel 16-bit
            one.
    """
    with open(path, 'rb') as f:
        data = np.frombuffer(f.read(), dtype=np.uint8)
    id_map = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if id_map is None:
        raise ValueError(f'{path}: not a readable image')
    if id_map.ndim != 2 or id_map.dtype != np.uint16:
        channels = 1 if id_map.ndim == 2 else id_map.shape[2]
        raise ValueError(f'{path}: not an id map (a single-channel 16-bit '
                         f'PNG); got {channels} channel(s) of '
                         f'{id_map.dtype}')
    return id_map


def id_map_to_masks(id_map: np.ndarray) -> Dict[int, np.ndarray]:
    """The binary masks of an id map, keyed by mask id.

    Args:
        id_map (np.ndarray): ``H x W`` ids (0 is no mask).

    Returns:
        dict[int, np.ndarray]: For each id present, in ascending order, its
        bool ``H x W`` mask. The masks are disjoint.
    """
    ids = np.unique(id_map)
    return {int(i): id_map == i for i in ids[ids > 0]}
