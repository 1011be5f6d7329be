# Copyright (c) mmaims contributors. All rights reserved.
"""Rough prompts: what a person draws instead of a pixel-exact mask.

:func:`perturb_prompt` turns an exact mask into one of

- ``exact``: the mask itself;
- ``box``: its bounding box, filled;
- ``dilate`` / ``erode``: the mask grown / shrunk by ``k`` pixels (a
  ``(2k+1) x (2k+1)`` square structuring element); an erosion that would
  leave nothing keeps the largest erosion that leaves something;
- ``polygon``: the mask's outer contours simplified with Douglas-Peucker at
  a tolerance of ``tolerance`` pixels, filled (a lasso);
- ``strokes``: ``num`` brush strokes of ``width`` pixels between random
  points of the mask, kept inside it (a scribble).

The result is a bool mask of the same size, never empty for a non-empty
input, and a function of the mask and the seed only. :func:`perturbation_tag`
names a perturbation in metric keys (``box``, ``dilate3``, ...).
"""
from typing import Optional, Union

import cv2
import numpy as np

#: perturbation type -> default parameters
PERTURBATIONS = {
    'exact': {},
    'box': {},
    'dilate': dict(k=3),
    'erode': dict(k=2),
    'polygon': dict(tolerance=3.0),
    'strokes': dict(num=3, width=3),
}

Perturbation = Union[None, str, dict]


def _spec(perturbation: Perturbation) -> dict:
    """``dict(type=..., **params)`` with the defaults filled in."""
    if perturbation is None:
        perturbation = 'exact'
    if isinstance(perturbation, str):
        perturbation = dict(type=perturbation)
    spec = dict(perturbation)
    kind = spec.get('type')
    if kind not in PERTURBATIONS:
        raise ValueError(f'unknown prompt perturbation {kind!r}; expected '
                         f'one of {sorted(PERTURBATIONS)}')
    params = dict(PERTURBATIONS[kind])
    unknown = set(spec) - {'type'} - set(params)
    if unknown:
        raise ValueError(f'prompt perturbation "{kind}" takes '
                         f'{sorted(params) or "no parameters"}, got '
                         f'{sorted(unknown)}')
    params.update({k: v for k, v in spec.items() if k != 'type'})
    return dict(type=kind, **params)


def perturbation_tag(perturbation: Perturbation) -> str:
    """Short name of a perturbation for metric keys: ``''`` for exact,
    ``'box'``, ``'dilate3'``, ``'erode2'``, ``'polygon3'``, ``'strokes3'``
    (the main parameter appended)."""
    spec = _spec(perturbation)
    kind = spec['type']
    if kind == 'exact':
        return ''
    if kind == 'box':
        return 'box'
    value = {
        'dilate': spec.get('k'),
        'erode': spec.get('k'),
        'polygon': spec.get('tolerance'),
        'strokes': spec.get('num'),
    }[kind]
    value = int(value) if float(value).is_integer() else value
    return f'{kind}{value}'


def _square(k: int) -> np.ndarray:
    return np.ones((2 * k + 1, 2 * k + 1), np.uint8)


def perturb_prompt(mask: np.ndarray,
                   perturbation: Perturbation = None,
                   seed: Optional[int] = None) -> np.ndarray:
    """A rough version of an exact prompt mask.

    Args:
        mask (np.ndarray): Bool or 0/1 ``H x W`` mask, not empty.
        perturbation (str | dict, optional): A type of
            :data:`PERTURBATIONS` or ``dict(type=..., **params)``. None:
            exact.
        seed (int, optional): Seed of the random perturbations
            (``strokes``).

    Returns:
        np.ndarray: Bool ``H x W``, not empty.

    Raises:
        ValueError: An unknown perturbation or parameter, or an empty mask.
    """
    spec = _spec(perturbation)
    mask = np.asarray(mask).astype(bool)
    if mask.ndim != 2 or not mask.any():
        raise ValueError('a prompt to perturb must be a non-empty H x W '
                         f'mask, got shape {mask.shape} with '
                         f'{int(mask.sum())} pixels')
    kind = spec['type']
    if kind == 'exact':
        return mask.copy()
    if kind == 'box':
        ys, xs = np.nonzero(mask)
        out = np.zeros_like(mask)
        out[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = True
        return out
    if kind == 'dilate':
        return cv2.dilate(mask.astype(np.uint8),
                          _square(int(spec['k']))).astype(bool)
    if kind == 'erode':
        for k in range(int(spec['k']), 0, -1):
            out = cv2.erode(mask.astype(np.uint8), _square(k),
                            borderValue=0).astype(bool)
            if out.any():
                return out
        return mask.copy()
    if kind == 'polygon':
        contours, _ = cv2.findContours(
            mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        out = np.zeros(mask.shape, np.uint8)
        for contour in contours:
            simple = cv2.approxPolyDP(contour, float(spec['tolerance']), True)
            cv2.fillPoly(out, [simple], 1)
        out = out.astype(bool)
        return out if out.any() else mask.copy()
    # strokes: random points of the mask joined by thick lines, clipped
    rng = np.random.default_rng(seed)
    ys, xs = np.nonzero(mask)
    out = np.zeros(mask.shape, np.uint8)
    for _ in range(int(spec['num'])):
        a, b = rng.integers(len(ys), size=2)
        cv2.line(out, (int(xs[a]), int(ys[a])), (int(xs[b]), int(ys[b])), 1,
                 max(1, int(spec['width'])))
    out = out.astype(bool) & mask
    return out if out.any() else mask.copy()
