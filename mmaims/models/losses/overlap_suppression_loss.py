# Copyright (c) mmaims contributors. All rights reserved.
from typing import Optional, Sequence, Union

import torch
from mmdet.models.losses.dice_loss import dice_loss
from torch import Tensor, nn

from mmaims.registry import MODELS


@MODELS.register_module()
class OverlapSuppressionLoss(nn.Module):
    """Overlap suppression loss of open-world entity segmentation (Qi et al.,
    Sec. 5.3, eq. 3-4).

    The predictions assigned to one ground-truth entity form a *cluster*.
    Each cluster is represented by the mean of its mask logits (eq. 3):
    ``Q^n = mean_{i in Omega(n)} logits_i``. A softmax over the clusters at
    every pixel makes the clusters compete for it, and the Dice loss of each
    cluster's softmax map against its entity's mask (eq. 4) pushes every
    pixel to exactly one cluster, so overlapping predictions of two
    clusters are penalised even where each alone matches its mask.

    What counts (the paper: "the pixels without annotations are ignored"):
    a pixel enters the loss only if it lies inside ``valid_region`` and is
    covered by exactly one of the ``gt_masks``. Pixels of no entity have no
    cluster to go to (they would only push the softmax, which sums to 1,
    towards an impossible target); pixels of two overlapping entities have
    no single correct cluster. Elsewhere both the softmax map and the
    target are set to 0, so those pixels add nothing to the Dice sums and
    changing the logits there changes neither the loss nor its gradient.

    No background channel: eq. 4 takes the softmax over the representative
    masks only, and every counted pixel belongs to exactly one cluster, so
    a background channel would never be a target and would only let the
    clusters leak probability to "nothing" instead of competing. As a
    consequence, with a single cluster (K = 1) the softmax is identically 1
    and equals the target on every counted pixel: the loss is 0 (up to
    ``eps`` with ``naive_dice=False``) and carries no gradient, since there
    is no other entity to suppress. With K = 0 it is a zero that stays
    connected to the graph.

    A cluster whose mask has no counted pixel gets weight 0 (its Dice term
    would be a constant); the average still runs over all K clusters (or
    ``avg_factor``), as mmdet's mask losses normalise by the number of
    masks.

    Args:
        naive_dice (bool): Dice form, as in mmdet's ``DiceLoss``. False (the
            default) is the form of the paper's eq. 1 (CondInst's Dice,
            squared terms in the denominator); True uses first powers, as
            Mask2Former's mask Dice. Defaults to False.
        eps (float): Smoothing term of the Dice. Defaults to 1e-3.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'`` over the
            clusters. Defaults to ``'mean'``.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 naive_dice: bool = False,
                 eps: float = 1e-3,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError('OverlapSuppressionLoss.reduction must be '
                             f"'none', 'mean' or 'sum', got {reduction!r}")
        self.naive_dice = naive_dice
        self.eps = eps
        self.reduction = reduction
        self.loss_weight = loss_weight

    @staticmethod
    def cluster_means(
            cluster_logits: Union[Tensor, Sequence[Tensor]]) -> Tensor:
        """Representative mask logits of the clusters (eq. 3).

        Args:
            cluster_logits (Tensor | Sequence[Tensor]): A Tensor (K, *S),
                one prediction per cluster, or a sequence of K Tensors
                (n_k, *S), the n_k >= 1 predictions of cluster k. ``S`` is
                the spatial shape (H, W), or any other, e.g. (P, ) sampled
                points.

        Returns:
            Tensor: Shape (K, *S).
        """
        if isinstance(cluster_logits, Tensor):
            if cluster_logits.dim() < 2:
                raise ValueError(
                    'OverlapSuppressionLoss: cluster_logits must be (K, H, '
                    f'W), got shape {tuple(cluster_logits.shape)}')
            return cluster_logits
        cluster_logits = list(cluster_logits)
        if not cluster_logits:
            raise ValueError(
                'OverlapSuppressionLoss: an empty list of clusters has no '
                'shape; pass a (0, H, W) Tensor for "no cluster"')
        means = []
        for k, logits in enumerate(cluster_logits):
            if logits.dim() < 2 or logits.shape[0] == 0 or \
                    logits.shape[1:] != cluster_logits[0].shape[1:]:
                raise ValueError(
                    f'OverlapSuppressionLoss: cluster {k} must be a '
                    '(n_k >= 1, H, W) stack of logits like the first '
                    f'cluster {tuple(cluster_logits[0].shape[1:])}, got '
                    f'{tuple(logits.shape)}')
            means.append(logits.mean(dim=0))
        return torch.stack(means)

    def forward(self,
                cluster_logits: Union[Tensor, Sequence[Tensor]],
                gt_masks: Tensor,
                valid_region: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the loss of one image.

        Args:
            cluster_logits (Tensor | Sequence[Tensor]): Mask logits of the
                K clusters, see :meth:`cluster_means`.
            gt_masks (Tensor): Mask of the entity of each cluster, bool or
                0/1, shape (K, *S), in the order of the clusters.
            valid_region (Tensor, optional): Bool (*S): pixels outside it
                are ignored. None: every pixel may count.
            avg_factor (float, optional): Divide the summed loss by this
                instead of K (``'mean'`` reduction only). Defaults to None.
            reduction_override (str, optional): Overrides ``reduction``.

        Returns:
            Tensor: The weighted loss, a scalar, or (K, ) with reduction
            ``'none'``.
        """
        reduction = reduction_override or self.reduction
        logits = self.cluster_means(cluster_logits)
        if tuple(gt_masks.shape) != tuple(logits.shape):
            raise ValueError(
                'OverlapSuppressionLoss: gt_masks must have one mask per '
                f'cluster, shape {tuple(logits.shape)}, got '
                f'{tuple(gt_masks.shape)}')
        if valid_region is not None and \
                tuple(valid_region.shape) != tuple(logits.shape[1:]):
            raise ValueError(
                'OverlapSuppressionLoss: valid_region must be '
                f'{tuple(logits.shape[1:])}, got {tuple(valid_region.shape)}')
        num_clusters = logits.shape[0]
        if num_clusters == 0:
            zero = logits.sum() * 0.
            return zero.new_zeros((0, )) if reduction == 'none' else zero

        targets = gt_masks.to(device=logits.device).bool()
        counted = targets.sum(dim=0) == 1
        if valid_region is not None:
            counted &= valid_region.to(device=logits.device).bool()
        # softmax in float32 (mixed precision: float16 sums overflow)
        probs = logits.float().softmax(dim=0)
        probs = torch.where(counted, probs, probs.new_zeros(()))
        targets = (targets & counted).to(probs.dtype)
        weight = (targets.flatten(1).sum(dim=1) > 0).to(probs.dtype)
        loss = dice_loss(
            probs,
            targets,
            weight=weight,
            eps=self.eps,
            reduction=reduction,
            naive_dice=self.naive_dice,
            avg_factor=avg_factor)
        return self.loss_weight * loss.to(logits.dtype)
