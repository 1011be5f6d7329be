# Copyright (c) mmaims contributors. All rights reserved.
"""Prompt geometry: where a mask prompt lies in each coordinate frame.

A user draws a prompt on the original image (``ori_shape``); the network
sees it resized to ``img_shape``, flipped like the image when the test
pipeline flipped it, and zero-padded to ``batch_input_shape``; the outputs
come back at ``ori_shape`` (or ``img_shape``) and are compared with the
prompt at the mask-logit size. Every conversion is here:

- :func:`fit_prompt`: a prompt of another size to the image size (the
  inference API, numpy);
- :func:`snap_prompt`: a rough prompt to the predicted mask it matches;
- :func:`entity_clip_region`: a rough prompt to the region its children
  are cut to (``prompt_clip='entities'``);
- :func:`clip_children`: children cut to a prompt as
  ``test_cfg.prompt_clip`` says (the post-processor's step);
- :func:`rough_flags`: the rough-prompt flags of a batch of prompts;
- :func:`prompt_to_input`: original image -> padded network input (the
  detector's prompt inference);
- :func:`prompt_to_output`: padded input -> output size and mask-logit
  size (the post-processor's clipping to the prompt).
"""
import warnings
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmdet.structures.mask import BitmapMasks
from torch import Tensor

from .mask import grow_mask, make_nonoverlap

PromptLike = Union[Tensor, np.ndarray, BitmapMasks]
#: a rough-prompt flag for all prompts, one per prompt, or None (exact)
RoughLike = Union[None, bool, Sequence[bool]]

#: A mask is "inside" a prompt when at least this fraction of it is: the
#: one-step reference of drill-down evaluation and the post-processor's
#: ``prompt_clip='inside'`` both use it.
INSIDE_FRACTION = 0.5
#: ``test_cfg.prompt_clip`` values (:func:`clip_children`)
PROMPT_CLIP_MODES = ('hard', 'margin', 'entities', 'inside', 'none')


class BoxPrompt(NamedTuple):
    """A box drawn on the original image, ``(x1, y1, x2, y2)`` in pixels
    (x to the right, y down, ``x2`` and ``y2`` exclusive, as mmdet's xyxy
    boxes). As a prompt it is the mask of the pixels it covers."""
    x1: float
    y1: float
    x2: float
    y2: float


def box_to_mask(box: BoxPrompt, shape: Sequence[int],
                where: str = 'box prompt') -> np.ndarray:
    """The pixels a box covers: rows ``floor(y1)`` to ``ceil(y2) - 1`` and
    columns ``floor(x1)`` to ``ceil(x2) - 1``, clipped to the image.

    Raises:
        ValueError: A box that is not finite, has ``x2 <= x1`` or
            ``y2 <= y1``, or lies outside the image.
    """
    h, w = int(shape[0]), int(shape[1])
    values = [float(v) for v in box]
    if not all(np.isfinite(values)) or values[2] <= values[0] or \
            values[3] <= values[1]:
        raise ValueError(f'{where}: a box is (x1, y1, x2, y2) with x1 < x2 '
                         f'and y1 < y2, got {tuple(box)}')
    x1, y1 = max(0, int(np.floor(values[0]))), max(0, int(np.floor(values[1])))
    x2, y2 = min(w, int(np.ceil(values[2]))), min(h, int(np.ceil(values[3])))
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f'{where}: the box {tuple(box)} lies outside the '
                         f'image ({w} x {h}, w x h)')
    mask = np.zeros((h, w), dtype=bool)
    mask[y1:y2, x1:x2] = True
    return mask


def fit_prompt(prompt: Union[np.ndarray, BoxPrompt], shape: Sequence[int],
               where: str) -> np.ndarray:
    """Resize a prompt to an image size, with a warning when it differs.

    Args:
        prompt (np.ndarray | BoxPrompt): ``h x w`` bool mask, or a box on
            the image (rasterised by :func:`box_to_mask`).
        shape (Sequence[int]): ``(H, W)`` of the image.
        where (str): Prompt and image names for the messages.

    Returns:
        np.ndarray: ``H x W`` bool mask.

    Raises:
        ValueError: If the prompt is empty once resized, or a bad box.
    """
    if isinstance(prompt, BoxPrompt):
        return box_to_mask(prompt, shape, where)
    h, w = int(shape[0]), int(shape[1])
    if prompt.shape == (h, w):
        return prompt
    ph, pw = prompt.shape
    stretch = abs(ph * w - pw * h) > (h + w)
    warnings.warn(
        f'{where}: prompt of size {ph}x{pw} resized to the image size '
        f'{h}x{w}' + (' (its aspect ratio differs: the prompt is stretched)'
                      if stretch else ''))
    resized = cv2.resize(
        prompt.astype(np.uint8), (w, h),
        interpolation=cv2.INTER_NEAREST).astype(bool)
    if not resized.any():
        raise ValueError(f'{where}: the prompt is empty once resized from '
                         f'{ph}x{pw} to the image size {h}x{w}')
    return resized


def prompt_tensor(prompt: PromptLike,
                  where: str,
                  device: Union[str, torch.device] = 'cpu') -> Tensor:
    """A prompt as a bool ``(h, w)`` tensor.

    Args:
        prompt (Tensor | ndarray | BitmapMasks): Binary mask ``(h, w)``
            or ``(1, h, w)``, non-zero inside.
        where (str): Names the prompt in errors.
        device (str | torch.device): Device of the result.

    Returns:
        Tensor: Bool (h, w), not empty.

    Raises:
        ValueError: Another type, a wrong shape or an empty prompt.
    """
    if isinstance(prompt, BitmapMasks):
        prompt = prompt.masks
    if isinstance(prompt, np.ndarray):
        prompt = torch.from_numpy(np.ascontiguousarray(prompt))
    if not isinstance(prompt, Tensor):
        raise ValueError(f'{where}: the prompt must be a Tensor, '
                         f'ndarray or BitmapMasks, got '
                         f'{type(prompt).__name__}')
    if prompt.dim() == 3 and prompt.shape[0] == 1:
        prompt = prompt[0]
    if prompt.dim() != 2:
        raise ValueError(f'{where}: the prompt must be a (h, w) '
                         f'or (1, h, w) mask, got shape '
                         f'{tuple(prompt.shape)}')
    prompt = prompt.to(device) > 0
    if not prompt.any():
        raise ValueError(f'{where}: the prompt is empty')
    return prompt


def snap_prompt(prompt: PromptLike, candidates: Tensor,
                where: str = 'prompt') -> Tuple[Tensor, Optional[float]]:
    """Replace a rough prompt by the candidate mask that matches it best.

    A box, a loose lasso or a few strokes stand for an entity (or two)
    that the one-step output has usually found already: the candidate with
    the highest IoU with the prompt is taken instead (``test_cfg.
    prompt_snap`` of :class:`mmaims.models.AIMS`). A prompt that overlaps
    no candidate is kept.

    Args:
        prompt (Tensor | ndarray | BitmapMasks): Binary ``(h, w)`` or
            ``(1, h, w)`` mask.
        candidates (Tensor): Bool (N, H, W), e.g. the one-step masks of the
            prompt's level; resized (nearest) to the prompt's size when
            they differ.
        where (str): Names the prompt in errors.

    Returns:
        tuple[Tensor, float | None]: The bool ``(h, w)`` mask to prompt
        with and its IoU with the given prompt (None: no candidate
        overlaps it, the prompt itself is returned).
    """
    prompt = prompt_tensor(prompt, where, candidates.device)
    if not len(candidates):
        return prompt, None
    if tuple(candidates.shape[-2:]) != tuple(prompt.shape):
        candidates = F.interpolate(
            candidates[None].float(), size=tuple(prompt.shape),
            mode='nearest')[0] > 0
    flat = candidates.flatten(1).float()
    target = prompt.flatten().float()
    inter = flat @ target
    union = flat.sum(1) + target.sum() - inter
    ious = inter / union.clamp(min=1.0)
    best = int(ious.argmax())
    if float(ious[best]) <= 0:
        return prompt, None
    return candidates[best].clone(), float(ious[best])


def entity_clip_region(prompt: PromptLike,
                       entities: Tensor,
                       margin: int,
                       where: str = 'prompt') -> Tensor:
    """The region the children of a rough prompt are cut to with
    ``prompt_clip='entities'``: the prompt grown by ``margin`` pixels,
    united with every one-step entity that lies mostly inside it.

    A prompt drawn a few pixels inside an object misses its thin pieces
    (a 3 px erosion removes a 3 px table leg), which a grown prompt does
    not bring back; the one-step entity masks of the image still have
    them. The entities are first made non-overlapping (each pixel to the
    highest-scoring mask covering it, so duplicates and low-scoring
    masks add nothing beyond the best ones), and a segment is taken when
    at least :data:`INSIDE_FRACTION` of it lies inside the grown prompt.

    Args:
        prompt (Tensor | ndarray | BitmapMasks): Binary ``(h, w)`` or
            ``(1, h, w)`` mask.
        entities (Tensor): Bool (N, H, W) one-step entity masks of the
            image, sorted by decreasing score; resized (nearest) to the
            prompt's size when they differ.
        margin (int): Pixels the prompt grows by (``test_cfg.
            prompt_clip_margin``).
        where (str): Names the prompt in errors.

    Returns:
        Tensor: Bool ``(h, w)`` region, on the entities' device.
    """
    prompt = prompt_tensor(prompt, where, entities.device)
    region = grow_mask(prompt, margin)
    if not len(entities):
        return region
    if tuple(entities.shape[-2:]) != tuple(prompt.shape):
        entities = F.interpolate(
            entities[None].float(), size=tuple(prompt.shape),
            mode='nearest')[0] > 0
    segments = make_nonoverlap(entities.bool())
    area = segments.flatten(1).sum(1)
    inside = (segments & region).flatten(1).sum(1)
    taken = (area > 0) & (inside >= INSIDE_FRACTION * area)
    return region | segments[taken].any(0)


def clip_children(masks: Tensor, prompt: Tensor, clip: str,
                  margin: int) -> Tuple[Tensor, Tensor]:
    """Cut the children of a prompt to it as ``test_cfg.prompt_clip``
    says.

    ``'hard'`` cuts them at the prompt, ``'margin'`` at the prompt grown by
    ``margin`` pixels, ``'entities'`` at its region (the caller passes
    :func:`entity_clip_region` as ``prompt``); ``'inside'`` keeps whole the
    masks at least :data:`INSIDE_FRACTION` inside the prompt and drops the
    others; ``'none'`` keeps every mask whole.

    Args:
        masks (Tensor): Bool (N, h, w) children.
        prompt (Tensor): Bool (h, w) prompt (or ``'entities'`` region).
        clip (str): One of :data:`PROMPT_CLIP_MODES`.
        margin (int): Pixels of ``'margin'``.

    Returns:
        tuple[Tensor, Tensor]: The (cut) masks, and which of them are kept
        (bool (N,): non-empty before the cut and, with ``'inside'``,
        mostly inside the prompt).

    Raises:
        ValueError: Unknown ``clip``.
    """
    kept = masks.flatten(1).any(1)
    if clip in ('hard', 'entities'):
        masks = masks & prompt[None]
    elif clip == 'margin':
        masks = masks & grow_mask(prompt, margin)[None]
    elif clip == 'inside':
        kept &= (masks & prompt[None]).flatten(1).sum(1) >= \
            INSIDE_FRACTION * masks.flatten(1).sum(1)
    elif clip != 'none':
        raise ValueError(f'prompt_clip must be one of {PROMPT_CLIP_MODES}, '
                         f'got {clip!r}')
    return masks, kept


def rough_flags(rough: RoughLike, num: int) -> List[bool]:
    """One rough-prompt flag per prompt (drawn rather than picked, read by
    an MPE with ``rough_flag``) from a flag for all (None: exact) or a
    sequence of them.

    Raises:
        ValueError: A sequence whose length is not ``num``.
    """
    if rough is None or isinstance(rough, (bool, np.bool_)):
        return [bool(rough)] * num
    flags = [bool(r) for r in rough]
    if len(flags) != num:
        raise ValueError(f'{len(flags)} rough flags for {num} prompts; give '
                         'one, or one per prompt')
    return flags


def prompt_to_input(prompt: PromptLike,
                    metainfo: dict,
                    device: Union[str, torch.device] = 'cpu') -> Tensor:
    """Bring a prompt on the original image to the padded network input.

    The prompt refers to the original image; it is resized to
    ``img_shape`` (bilinear, threshold 0.5), flipped like the image when
    the test pipeline flipped it, and zero-padded to
    ``batch_input_shape``.

    Args:
        prompt (Tensor | ndarray | BitmapMasks): Binary mask ``(h, w)``
            or ``(1, h, w)``.
        metainfo (dict): Metainfo of the image.
        device (str | torch.device): Device of the result.

    Returns:
        Tensor: Bool (1, H_pad, W_pad).

    Raises:
        ValueError: Wrong shape, empty prompt (before or after the
            resize) or an aspect different from ``ori_shape``.
    """
    img_id = metainfo.get('img_id', '?')
    missing = [
        key for key in ('ori_shape', 'img_shape', 'batch_input_shape')
        if key not in metainfo
    ]
    if missing:
        raise ValueError(f'image {img_id}: metainfo lacks {missing}; '
                         'pass the data samples returned by the data '
                         'preprocessor')
    prompt = prompt_tensor(prompt, f'image {img_id}', device)
    ori_h, ori_w = metainfo['ori_shape'][:2]
    h, w = prompt.shape
    # a resize of the image by any factor, allowing the rounding of
    # both sides (|h * W - w * H| <= (H + W) / 2 for rounding to nearest)
    if abs(h * ori_w - w * ori_h) > (ori_h + ori_w):
        raise ValueError(
            f'image {img_id}: the prompt of size {(h, w)} does not match '
            f'the image of size {(ori_h, ori_w)}: its aspect ratio '
            f'{w / h:.4f} differs from the image\'s {ori_w / ori_h:.4f}')
    img_h, img_w = metainfo['img_shape'][:2]
    resized = F.interpolate(
        prompt[None, None].float(),
        size=(img_h, img_w),
        mode='bilinear',
        align_corners=False)[0] >= 0.5
    if metainfo.get('flip', False):
        direction = metainfo.get('flip_direction', 'horizontal')
        dims = {
            'horizontal': [-1],
            'vertical': [-2],
            'diagonal': [-2, -1]
        }[direction]
        resized = resized.flip(dims)
    if not resized.any():
        raise ValueError(
            f'image {img_id}: the prompt of {int(prompt.sum())} pixels '
            f'is empty once resized from {(h, w)} to the network input '
            f'{(img_h, img_w)}')
    pad_h, pad_w = metainfo['batch_input_shape']
    return F.pad(
        resized.to(torch.uint8),
        (0, pad_w - img_w, 0, pad_h - img_h)).bool()


def prompt_to_output(prompt: Tensor, meta: dict, rescale: bool,
                     low_size: Tuple[int, int]) -> Tuple[Tensor, Tensor]:
    """A prompt on the padded input at the output size (the original image,
    or ``img_shape``) and at the mask-logit size.

    Args:
        prompt (Tensor): (1, H_pad, W_pad), padding is 0.
        meta (dict): Image metainfo.
        rescale (bool): Output at ``ori_shape`` (else ``img_shape``).
        low_size (tuple[int, int]): Size of the mask logits.

    Returns:
        tuple[Tensor, Tensor]: Bool (H_out, W_out) and bool (h, w).
    """
    prompt = prompt.float()
    low = F.interpolate(
        prompt[None],
        size=tuple(low_size),
        mode='bilinear',
        align_corners=False)[0, 0] >= 0.5
    img_h, img_w = meta['img_shape'][:2]
    full = prompt[:, :img_h, :img_w]
    if rescale:
        full = F.interpolate(
            full[None], size=tuple(meta['ori_shape'][:2]),
            mode='nearest')[0]
    return full[0] > 0, low
