# Copyright (c) mmaims contributors. All rights reserved.
"""CropFormer's crop-ensemble inference (paper 003, Sec. 4.3).

The batch decoder predicts the same N entities (one per batch query) on the
full image and on each corner crop (:class:`mmaims.datasets.transforms.
CropFormerViews`). The final masks are an ensemble of those per-pixel
predictions, in two steps:

1. :func:`fuse_crop_probs`: every crop's mask probabilities are resized to
   the crop's window in the full image and, per pixel, the probabilities of
   all views that cover the pixel are averaged (the full view covers every
   pixel, so a pixel covered by c crops averages c + 1 values; one that no
   crop covers keeps the full view's probability);
2. :func:`merge_crop_predictions`: a pixel belongs to an entity where the
   fused probability exceeds ``mask_thr``; entities are ranked by their
   batch-level entityness score and each pixel keeps only the
   highest-ranked entity covering it (mmaims's non-overlap rule, the one of
   :class:`~mmaims.models.seg_heads.AIMSPostProcessor` and of the AP^e
   metric); optionally each entity is then re-scored by its mean fused
   probability over the pixels it kept.

The re-scoring is the protocol of the authors' released code (which also
ranks the entities by entityness before re-scoring them). That code applies
a second sigmoid to the already averaged probabilities before taking their
mean; here the mean is of the probabilities themselves, as in mmdet's and
mmaims's Mask2Former score (object probability x mean mask probability).
"""
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor

from mmaims.structures import make_nonoverlap, mask_bboxes

Boxes = Union[Tensor, Sequence[Sequence[int]]]


def _check_probs(probs: Tensor, name: str) -> None:
    if probs.dim() != 3:
        raise ValueError(f'{name} must be (N, H, W) mask probabilities, got '
                         f'shape {tuple(probs.shape)}')
    if probs.numel() and (probs.min() < 0 or probs.max() > 1):
        raise ValueError(f'{name} holds values outside [0, 1]: pass mask '
                         'probabilities (sigmoid of the logits), not logits')


def _int_boxes(crop_boxes: Boxes, num_crops: int, height: int,
               width: int) -> list:
    if len(crop_boxes):
        boxes = torch.as_tensor(crop_boxes).reshape(-1, 4)
    else:
        boxes = torch.zeros((0, 4))
    if len(boxes) != num_crops:
        raise ValueError(f'{num_crops} crop predictions but {len(boxes)} '
                         'crop boxes')
    result = []
    for i, box in enumerate(boxes.tolist()):
        if any(float(v) != int(v) for v in box):
            raise ValueError(f'crop box {i} {box} is not in whole pixels')
        x0, y0, x1, y1 = (int(v) for v in box)
        if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
            raise ValueError(f'crop box {i} (x0, y0, x1, y1) = {box} is not '
                             f'a non-empty window of the {height} x {width} '
                             'full view')
        result.append((x0, y0, x1, y1))
    return result


def fuse_crop_probs(full_probs: Tensor,
                    crop_probs: Sequence[Tensor],
                    crop_boxes: Boxes,
                    use_full: bool = True) -> Tensor:
    """Average the mask probabilities of the full view and its crops.

    Args:
        full_probs (Tensor): Mask probabilities of the full view at the
            output size, (N, H, W).
        crop_probs (Sequence[Tensor]): One (N, h_k, w_k) tensor per crop:
            the probabilities of the same N entities (row i of every view is
            the same batch query) at the crop view's size (without padding).
            Each is resized bilinearly to its window.
        crop_boxes (Tensor | Sequence): (K, 4) windows ``(x0, y0, x1, y1)``
            of the crops in the full view's output pixels, end exclusive
            (``CropFormerViews``' ``crop_boxes`` when the output is the
            original image).
        use_full (bool): Average the full view in. False: the crops only
            (Table 7's "C"); they must then cover every pixel (four corner
            crops do when their ratio is >= 0.5), and ``full_probs`` gives
            only the output size. Defaults to True ("OC").

    Returns:
        Tensor: (N, H, W) float: per pixel, the mean over the views whose
        window covers it.

    Raises:
        ValueError: Shapes that do not fit, boxes outside the image, or,
            without the full view, pixels that no crop covers.
    """
    _check_probs(full_probs, 'full_probs')
    num, height, width = full_probs.shape
    boxes = _int_boxes(crop_boxes, len(crop_probs), height, width)
    if use_full:
        total = full_probs.float().clone()
        count = torch.ones((height, width), device=full_probs.device)
    else:
        total = torch.zeros_like(full_probs, dtype=torch.float)
        count = torch.zeros((height, width), device=full_probs.device)
    for k, (probs, (x0, y0, x1, y1)) in enumerate(zip(crop_probs, boxes)):
        _check_probs(probs, f'crop_probs[{k}]')
        if probs.shape[0] != num:
            raise ValueError(f'crop_probs[{k}] has {probs.shape[0]} masks, '
                             f'the full view {num}: every view must hold '
                             'the same entities')
        window = (y1 - y0, x1 - x0)
        probs = probs.float().to(full_probs.device)
        if tuple(probs.shape[-2:]) != window and num:
            probs = F.interpolate(
                probs[None], size=window, mode='bilinear',
                align_corners=False)[0]
        total[:, y0:y1, x0:x1] += probs
        count[y0:y1, x0:x1] += 1
    if not use_full and (count == 0).any():
        raise ValueError(
            f'{int((count == 0).sum())} of the {height} x {width} pixels are '
            'in no crop: fusing the crops without the full view needs crops '
            'that cover the image (corner crops of ratio >= 0.5)')
    return total / count


def merge_crop_predictions(full_probs: Tensor,
                           crop_probs: Sequence[Tensor],
                           crop_boxes: Boxes,
                           scores: Tensor,
                           mask_thr: float = 0.5,
                           nonoverlap: bool = True,
                           rescore: bool = False,
                           max_per_image: Optional[int] = None,
                           score_thr: float = 0.0,
                           use_full: bool = True) -> InstanceData:
    """CropFormer's crop-ensemble inference for one image (see the module).

    Args:
        full_probs (Tensor): (N, H, W) mask probabilities of the full view
            at the output size.
        crop_probs (Sequence[Tensor]): (N, h_k, w_k) mask probabilities of
            each crop view; see :func:`fuse_crop_probs`.
        crop_boxes (Tensor | Sequence): (K, 4) crop windows in output
            pixels; see :func:`fuse_crop_probs`.
        scores (Tensor): (N,) batch-level entityness of each entity
            (query).
        mask_thr (float): A pixel is in an entity's mask where its fused
            probability is > ``mask_thr``. Defaults to 0.5.
        nonoverlap (bool): Each pixel keeps only the highest-scoring entity
            covering it (ties: the lower query index); entities left empty
            are dropped. Defaults to True (the paper's protocol).
        rescore (bool): Multiply each score by the entity's mean fused
            probability over the pixels of its final mask (the released
            protocol). Defaults to False: the score is the entityness.
        max_per_image (int, optional): Keep only the entities with the
            ``max_per_image`` highest entityness before merging. Defaults
            to None (all N, as the released code).
        score_thr (float): Drop entities whose final score is <=
            ``score_thr``. Defaults to 0.0.
        use_full (bool): Fuse the full view with the crops (True, Table
            7's "OC") or the crops alone (False, "C"); see
            :func:`fuse_crop_probs`. With no crops, True gives the full view
            alone ("O").

    Returns:
        :obj:`InstanceData`: ``masks`` (bool (M, H, W)), ``scores`` (M,),
        ``labels`` (int64 zeros), ``bboxes`` (float32 (M, 4), xyxy, from the
        masks), ``query_index`` (int64 (M,), the entity's row in the
        inputs) and ``mask_scores`` (M,: the mean fused probability over
        the mask's pixels, the factor of the re-scoring, so that
        ``FederatedMetric(rescore=True)`` can apply it to an output that
        was not re-scored), sorted by decreasing final score.
    """
    scores = torch.as_tensor(scores, device=full_probs.device).float()
    if scores.dim() != 1 or scores.numel() != full_probs.shape[0]:
        raise ValueError(f'{full_probs.shape[0]} entities but scores of '
                         f'shape {tuple(scores.shape)}')
    query_index = torch.arange(
        scores.numel(), dtype=torch.long, device=scores.device)
    if max_per_image is not None and max_per_image < scores.numel():
        top = scores.topk(int(max_per_image)).indices.sort().values
        scores, query_index = scores[top], query_index[top]
        full_probs = full_probs[top]
        crop_probs = [p[top.to(p.device)] for p in crop_probs]
    fused = fuse_crop_probs(full_probs, crop_probs, crop_boxes, use_full)
    binary = fused > mask_thr

    # rank by entityness; the stable sort keeps the lower query first on
    # ties, which is what make_nonoverlap breaks them by
    order = scores.argsort(descending=True, stable=True)
    binary, fused = binary[order], fused[order]
    scores, query_index = scores[order], query_index[order]
    if nonoverlap and len(scores):
        binary = make_nonoverlap(binary)
    keep = binary.flatten(1).any(1)
    binary, fused = binary[keep], fused[keep]
    scores, query_index = scores[keep], query_index[keep]

    # each entity's mean fused probability over the pixels it kept (all
    # kept entities are non-empty)
    area = binary.flatten(1).sum(1).clamp(min=1)
    mask_scores = (fused * binary).flatten(1).sum(1) / area
    if rescore:
        scores = scores * mask_scores
    keep = scores > score_thr
    binary, scores = binary[keep], scores[keep]
    query_index, mask_scores = query_index[keep], mask_scores[keep]
    order = scores.argsort(descending=True, stable=True)
    binary, scores = binary[order], scores[order]
    query_index, mask_scores = query_index[order], mask_scores[order]

    instances = InstanceData()
    instances.masks = binary
    instances.scores = scores
    instances.labels = torch.zeros_like(query_index)
    instances.bboxes = mask_bboxes(binary)
    instances.query_index = query_index
    instances.mask_scores = mask_scores
    return instances
