# Copyright (c) mmaims contributors. All rights reserved.
"""COCO RLE helpers shared by the dataset, converters, metric and API,
and operations on binary mask tensors (boxes, growing, non-overlap).

Every mask mmaims writes is a compressed COCO RLE with ``counts`` as a
``str`` (``{"size": [h, w], "counts": "..."}``). On input, polygons and
uncompressed RLE are accepted and normalised, as ``lvis.LVIS.ann_to_rle``
does.
"""
from typing import List, Union

import numpy as np
import pycocotools.mask as mask_util
import torch
import torch.nn.functional as F

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
        ValueError: If ``segm`` is empty or of an unknown form, or an RLE's
            counts are not the runs of an ``h x w`` mask (see
            :func:`check_rle_counts`).
    """
    if isinstance(segm, list):
        polygons = [p for p in segm if len(p) >= 6]
        if not polygons:
            raise ValueError('empty or degenerate polygon segmentation')
        rle = mask_util.merge(mask_util.frPyObjects(polygons, height, width))
    elif isinstance(segm, dict) and 'counts' in segm and 'size' in segm:
        check_rle_counts(segm)
        if isinstance(segm['counts'], list):
            h, w = segm['size']
            rle = mask_util.frPyObjects(segm, h, w)
        else:
            rle = dict(size=list(segm['size']), counts=segm['counts'])
    else:
        raise ValueError(f'unknown segmentation of type {type(segm).__name__}')
    return _as_str_rle(rle)


def check_rle_counts(rle: dict) -> None:
    """Check that an RLE's counts are the runs of a ``size`` mask.

    pycocotools trusts them: a negative count raises ``OverflowError`` deep
    inside it, and counts that do not add up to ``h x w`` make
    ``mask.merge`` loop forever. This reads the counts (a list, or the
    compressed string of COCO's ``rleToString``) and checks them once.

    Args:
        rle (dict): ``size`` ``[h, w]`` and ``counts``.

    Raises:
        ValueError: A count that is negative or not an integer, a character
            outside the compressed alphabet, or counts that do not sum to
            ``h x w``.
    """
    h, w = (int(s) for s in rle['size'])
    counts = rle['counts']
    if isinstance(counts, list):
        if not all(isinstance(c, (int, np.integer)) for c in counts):
            raise ValueError('uncompressed RLE counts must be integers')
        counts = np.asarray(counts, dtype=np.int64)
        kind = 'uncompressed'
    else:
        counts = _string_counts(counts)
        kind = 'compressed'
    if (counts < 0).any():
        raise ValueError(f'{kind} RLE has a negative count')
    total = int(counts.sum())
    if total != h * w:
        raise ValueError(f'{kind} RLE counts sum to {total}, not height x '
                         f'width = {h * w}')


def _string_counts(counts: Union[str, bytes]) -> np.ndarray:
    """The run lengths of a compressed COCO RLE string, the inverse of
    pycocotools' ``rleToString``, vectorised: 5 bits a character from
    ``'0'``, bit 6 continues the number, the last group's bit 5 is its
    sign, and from the third run on each number is the difference to the
    run two before."""
    if isinstance(counts, str):
        counts = counts.encode('ascii', errors='replace')
    codes = np.frombuffer(counts, dtype=np.uint8).astype(np.int64) - 48
    if codes.size and (codes.min() < 0 or codes.max() > 63):
        bad = chr(int(codes[(codes < 0) | (codes > 63)][0]) + 48)
        raise ValueError(f'compressed RLE has the character {bad!r} outside '
                         'its alphabet')
    last = (codes & 0x20) == 0  # the last character of each number
    if codes.size and not last[-1]:
        raise ValueError('compressed RLE ends in the middle of a number')
    number = np.concatenate([[0], np.cumsum(last)[:-1]])  # number of a char
    starts = np.flatnonzero(np.concatenate([[True], last[:-1]]))
    position = np.arange(codes.size) - starts[number]
    values = np.zeros(len(starts), dtype=np.int64)
    np.add.at(values, number, (codes & 0x1f) << (5 * position))
    ends = np.flatnonzero(last)
    negative = (codes[ends] & 0x10) != 0
    values[negative] -= np.left_shift(1, 5 * (position[ends][negative] + 1))
    # runs m > 2 are stored as the difference to run m - 2
    runs = values.copy()
    for first in (1, 2):
        runs[first::2] = np.cumsum(values[first::2])
    return runs


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


def mask_bboxes(masks: torch.Tensor) -> torch.Tensor:
    """Tight ``(x1, y1, x2, y2)`` boxes of binary masks, zeros for an empty
    mask: the values of mmdet's ``mask2bbox``, computed for all masks at
    once (``mask2bbox`` loops over the masks in Python, with a device
    synchronisation per mask on a GPU: the largest cost of post-processing
    100 masks per prompt there).

    Args:
        masks (Tensor): Bool (N, H, W).

    Returns:
        Tensor: Float32 (N, 4), on the masks' device.
    """
    height, width = masks.shape[-2:]
    cols = masks.any(1).to(torch.uint8)  # (N, W)
    rows = masks.any(2).to(torch.uint8)  # (N, H)
    # argmax returns the first maximum: the first covered column / row
    x1 = cols.argmax(1)
    y1 = rows.argmax(1)
    x2 = width - cols.flip(1).argmax(1)
    y2 = height - rows.flip(1).argmax(1)
    boxes = torch.stack([x1, y1, x2, y2], 1).to(torch.float32)
    return boxes.masked_fill(~cols.bool().any(1)[:, None], 0.0)


def merge_rles(rles: List[dict]) -> dict:
    """Union of compressed RLEs of the same size."""
    merged = mask_util.merge([_as_bytes_rle(r) for r in rles], intersect=0)
    return _as_str_rle(merged)


def _as_bytes_rle(rle: dict) -> dict:
    counts = rle['counts']
    if isinstance(counts, str):
        counts = counts.encode('ascii')
    return dict(size=list(rle['size']), counts=counts)


def grow_mask(mask: torch.Tensor, margin: int) -> torch.Tensor:
    """A bool mask grown by ``margin`` pixels (dilation by a
    ``(2 margin + 1)`` square, as ``perturb_prompt``'s ``'dilate'``).

    Args:
        mask (torch.Tensor): Bool (H, W).
        margin (int): Pixels, >= 0.

    Returns:
        torch.Tensor: Bool (H, W).
    """
    if margin == 0:
        return mask
    grown = F.max_pool2d(
        mask[None, None].float(), 2 * margin + 1, stride=1, padding=margin)
    return grown[0, 0] > 0


def make_nonoverlap(binary: torch.Tensor) -> torch.Tensor:
    """Every pixel keeps only the first mask (highest score) covering it.

    Args:
        binary (torch.Tensor): Bool (N, H, W), sorted by decreasing score.

    Returns:
        torch.Tensor: Bool (N, H, W), pairwise disjoint.
    """
    num = binary.shape[0]
    rank_weight = torch.arange(
        num, 0, -1, device=binary.device, dtype=torch.float32)
    owner = (binary.float() * rank_weight[:, None, None]).argmax(0)
    owned = torch.zeros_like(binary)
    owned.scatter_(0, owner[None], True)
    return owned & binary
