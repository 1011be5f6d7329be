# Copyright (c) mmaims contributors. All rights reserved.
"""COCO RLE helpers shared by the dataset, converters, metric and API.

Every mask mmaims writes is a compressed COCO RLE with ``counts`` as a
``str`` (``{"size": [h, w], "counts": "..."}``). On input, polygons and
uncompressed RLE are accepted and normalised, as ``lvis.LVIS.ann_to_rle``
does.
"""
from typing import List, Union

import numpy as np
import pycocotools.mask as mask_util

Segmentation = Union[dict, List[List[float]]]


def to_rle(segm: Segmentation, height: int, width: int) -> dict:
    """Normalise a COCO segmentation to a compressed RLE.

    Args:
        segm (dict | list): Polygons (list of ``[x0, y0, x1, y1, ...]``),
            uncompressed RLE (``counts`` is a list) or compressed RLE
            (``counts`` is ``str`` or ``bytes``).
        height (int): Image height, used for polygons and uncompressed RLE.
        width (int): Image width.

    Returns:
        dict: ``{'size': [h, w], 'counts': str}``.

    Raises:
        ValueError: If ``segm`` is empty or of an unknown form.
    """
    if isinstance(segm, list):
        polygons = [p for p in segm if len(p) >= 6]
        if not polygons:
            raise ValueError('empty or degenerate polygon segmentation')
        rle = mask_util.merge(mask_util.frPyObjects(polygons, height, width))
    elif isinstance(segm, dict) and 'counts' in segm and 'size' in segm:
        if isinstance(segm['counts'], list):
            h, w = segm['size']
            rle = mask_util.frPyObjects(segm, h, w)
        else:
            rle = dict(size=list(segm['size']), counts=segm['counts'])
    else:
        raise ValueError(f'unknown segmentation of type {type(segm).__name__}')
    return _as_str_rle(rle)


def _as_str_rle(rle: dict) -> dict:
    counts = rle['counts']
    if isinstance(counts, bytes):
        counts = counts.decode('ascii')
    return dict(size=[int(rle['size'][0]), int(rle['size'][1])], counts=counts)


def encode_mask(mask: np.ndarray) -> dict:
    """Encode a binary ``H x W`` mask as a compressed RLE with str counts."""
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return _as_str_rle(rle)


def decode_rle(rle: dict) -> np.ndarray:
    """Decode a compressed RLE (str or bytes counts) to a bool ``H x W``."""
    counts = rle['counts']
    if isinstance(counts, str):
        rle = dict(size=rle['size'], counts=counts.encode('ascii'))
    return mask_util.decode(rle).astype(bool)


def rle_area(rle: dict) -> int:
    """Pixel count of a compressed RLE."""
    return int(mask_util.area(_as_bytes_rle(rle)))


def rle_bbox(rle: dict) -> List[float]:
    """Tight ``[x, y, w, h]`` box of a compressed RLE (zeros if empty)."""
    return [float(v) for v in mask_util.toBbox(_as_bytes_rle(rle))]


def merge_rles(rles: List[dict]) -> dict:
    """Union of compressed RLEs of the same size."""
    merged = mask_util.merge([_as_bytes_rle(r) for r in rles], intersect=0)
    return _as_str_rle(merged)


def _as_bytes_rle(rle: dict) -> dict:
    counts = rle['counts']
    if isinstance(counts, str):
        counts = counts.encode('ascii')
    return dict(size=list(rle['size']), counts=counts)
