# Copyright (c) mmaims contributors. All rights reserved.
import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmcv.ops import point_sample
from mmdet.models.utils import get_uncertain_point_coords_with_randomness
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig, reduce_mean
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from mmaims.registry import MODELS, TASK_UTILS
from ..layers.crop_batch_decoder import BatchDecoderOutput
from .multi_level_decoder_head import (FAR_LOGIT, MASK2FORMER_LOSS_CLS,
                                       MASK2FORMER_LOSS_DICE,
                                       MASK2FORMER_LOSS_MASK)


def stack_view_targets(
    full_masks: Tensor, crop_masks: Sequence[Tensor],
    gt_crop_indices: Sequence[Union[Tensor,
                                    np.ndarray]]) -> Tuple[Tensor, Tensor]:
    """Align one sample's entities across its views for the batch-level
    loss.

    Row ``g`` of the result is full-view entity ``g`` in every view: its
    full-view mask, then for each crop the crop view's row
    ``gt_crop_index[g]``, or an empty mask where the entity is absent from
    the crop (``gt_crop_index[g] == -1``), as
    :class:`~mmaims.datasets.transforms.CropFormerViews` records them.

    Args:
        full_masks (Tensor): Full-view masks (G, H, W).
        crop_masks (Sequence[Tensor]): Per crop, its masks (G_k, H, W), at
            the full view's size (the views are stacked).
        gt_crop_indices (Sequence[Tensor | np.ndarray]): Per crop, its
            ``gt_crop_index`` (G, ): the crop row of each full-view row or
            -1.

    Returns:
        tuple[Tensor, Tensor]: ``masks`` (G, V, H, W) with V = 1 + K, of
        ``full_masks``' dtype, and ``present`` bool (G, V), view 0 always
        True.
    """
    if len(crop_masks) != len(gt_crop_indices):
        raise ValueError(f'{len(crop_masks)} crop views but '
                         f'{len(gt_crop_indices)} gt_crop_index arrays')
    num_gts = full_masks.shape[0]
    views = [full_masks]
    present = [full_masks.new_ones((num_gts, ), dtype=torch.bool)]
    for k, (masks, index) in enumerate(zip(crop_masks, gt_crop_indices)):
        index = torch.as_tensor(
            index, dtype=torch.long, device=full_masks.device)
        if index.shape != (num_gts, ):
            raise ValueError(f'gt_crop_index of crop {k} has shape '
                             f'{tuple(index.shape)}, expected ({num_gts}, ) '
                             '(one row per full-view entity)')
        if masks.shape[1:] != full_masks.shape[1:]:
            raise ValueError(f'crop {k} masks are {tuple(masks.shape[1:])}, '
                             f'the full view {tuple(full_masks.shape[1:])}: '
                             'the views must have one size')
        if index.numel() and (index.max() >= masks.shape[0]
                              or index.min() < -1):
            raise ValueError(f'gt_crop_index of crop {k} points outside '
                             f'its {masks.shape[0]} masks')
        is_present = index >= 0
        view = full_masks.new_zeros(full_masks.shape)
        view[is_present] = masks[index[is_present]].to(full_masks.dtype)
        views.append(view)
        present.append(is_present)
    return torch.stack(views, dim=1), torch.stack(present, dim=1)


@MODELS.register_module()
class CropFormerBatchHead(BaseModule):
    """CropFormer's batch level (paper 003, Sec. 4.2-4.3): the association
    module (eq. 4), the batch decoder (eq. 5-6) and the batch-level loss
    ``L_b`` of eq. 7.

    The image-level half of eq. 7 (``L_i``, Mask2Former's loss on each
    view with its own matching) is the loss of the image decoder
    (:class:`MultiLevelDecoderHead`) applied to each view; this head
    computes only ``L_b``: entityness cross-entropy on the batch queries and
    point-sampled binary cross-entropy and dice on the masks of all views,
    after matching every batch query to one entity jointly over the views
    (:class:`~mmaims.models.task_modules.JointViewHungarianAssigner`). A
    matched query is supervised in every view: with the entity's mask
    where the entity is present, with an empty mask in a crop that does
    not show it. The dice of a query is taken over its points in all views
    at once (one mask per entity across views, as video Mask2Former).

    Loss regions: with ``batch_gt_regions`` (per sample, bool (V, H, W):
    where each view's annotation is trusted, the image level's loss region
    of that view: ``valid_region`` as ``train_cfg['unannotated']`` says,
    minus crowd regions; :meth:`CropFormer._batch_targets` takes it from
    the decode head), points outside a view's region count neither in the
    matching costs nor in the losses, nor steer the importance sampling:
    the same treatment as the image-level loss
    (:class:`MultiLevelDecoderHead`).

    Args:
        association (:obj:`ConfigDict` or dict): Config of
            :class:`~mmaims.models.layers.CropQueryAssociation`
            (``embed_dims`` defaults to the decoder's channels).
        batch_decoder (:obj:`ConfigDict` or dict): Config of
            :class:`~mmaims.models.layers.CropBatchDecoder`.
        loss_cls (:obj:`ConfigDict` or dict): Entity / no-entity loss
            (``class_weight`` optional, as in :class:`MultiLevelDecoderHead`).
        loss_mask (:obj:`ConfigDict` or dict): Point-wise mask loss.
        loss_dice (:obj:`ConfigDict` or dict): Dice loss.
        train_cfg (:obj:`ConfigDict` or dict, optional): ``assigner`` (a
            ``JointViewHungarianAssigner`` config), ``num_points``
            (per view), ``oversample_ratio``, ``importance_sample_ratio``.
            Defaults to None (no loss).
        init_cfg (:obj:`ConfigDict` or dict, optional): Initialization
            config. Defaults to None.
    """

    def __init__(self,
                 association: ConfigType,
                 batch_decoder: ConfigType,
                 loss_cls: ConfigType = MASK2FORMER_LOSS_CLS,
                 loss_mask: ConfigType = MASK2FORMER_LOSS_MASK,
                 loss_dice: ConfigType = MASK2FORMER_LOSS_DICE,
                 train_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        decoder_cfg = copy.deepcopy(dict(batch_decoder))
        decoder_cfg.setdefault('type', 'CropBatchDecoder')
        self.batch_decoder = MODELS.build(decoder_cfg)
        association_cfg = copy.deepcopy(dict(association))
        association_cfg.setdefault('type', 'CropQueryAssociation')
        association_cfg.setdefault('embed_dims',
                                   self.batch_decoder.decoder_embed_dims)
        self.association = MODELS.build(association_cfg)
        self.num_queries = self.batch_decoder.num_queries
        self.train_cfg = train_cfg
        if train_cfg:
            self.assigner = TASK_UTILS.build(train_cfg['assigner'])
            self.num_points = train_cfg.get('num_points', 12544)
            self.oversample_ratio = train_cfg.get('oversample_ratio', 3.0)
            self.importance_sample_ratio = train_cfg.get(
                'importance_sample_ratio', 0.75)
        self.class_weight = loss_cls.get('class_weight', None)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_mask = MODELS.build(loss_mask)
        self.loss_dice = MODELS.build(loss_dice)

    def forward(self, full_embeds: Tensor, crop_embeds: Tensor,
                mask_features: Tensor,
                multi_scale_memorys: Sequence[Tensor]) -> BatchDecoderOutput:
        """Batch queries from the image-level embeddings, then the batch
        decoder on all views.

        Args:
            full_embeds (Tensor): Image-level query embeddings of the full
                view (B, N, C) (the image decoder's ``query_feats``).
            crop_embeds (Tensor): Those of the crop views, (B, N, C) or
                (B, K, N, C).
            mask_features (Tensor): (B, V, C_out, H, W), view 0 the full
                image, V = 1 + K.
            multi_scale_memorys (Sequence[Tensor]): Low to high resolution,
                each (B, V, C, h_i, w_i).

        Returns:
            BatchDecoderOutput: Logits (B, N, 2) and masks (B, N, V, H, W)
            of the batch queries and of every block.
        """
        query = self.association(full_embeds, crop_embeds)
        return self.batch_decoder(query, mask_features, multi_scale_memorys)

    def loss_by_feat(
        self,
        all_cls_scores: List[Tensor],
        all_mask_preds: List[Tensor],
        batch_gt_masks: List[Tensor],
        batch_gt_present: List[Tensor],
        batch_gt_regions: Optional[List[Tensor]] = None
    ) -> Dict[str, Tensor]:
        """The batch-level loss ``L_b`` of every block.

        Args:
            all_cls_scores (list[Tensor]): Per block, (B, N, 2).
            all_mask_preds (list[Tensor]): Per block, (B, N, V, H, W).
            batch_gt_masks (list[Tensor]): Per sample, (G, V, H', W') masks
                of the entities in every view (:func:`stack_view_targets`),
                covering the same image area as the predictions (e.g. the
                padded input size).
            batch_gt_present (list[Tensor]): Per sample, bool (G, V).
            batch_gt_regions (list[Tensor], optional): Per sample, bool
                (V, H', W'): the loss region of each view (see the class).
                Defaults to None: every pixel counts.

        Returns:
            dict[str, Tensor]: ``batch.loss_cls``, ``batch.loss_mask``,
            ``batch.loss_dice`` of the last block and
            ``batch.d{i}.loss_*`` of the others.
        """
        if not self.train_cfg:
            raise RuntimeError('CropFormerBatchHead: loss needs train_cfg '
                               '(assigner, num_points, ...)')
        num_blocks = len(all_cls_scores)
        if batch_gt_regions is None:
            batch_gt_regions = [
                masks.new_ones((masks.shape[1], *masks.shape[2:]),
                               dtype=torch.bool) for masks in batch_gt_masks
            ]
        for i, (masks, region) in enumerate(
                zip(batch_gt_masks, batch_gt_regions)):
            expected = (masks.shape[1], *masks.shape[2:])
            if tuple(region.shape) != expected:
                raise ValueError(
                    f'CropFormerBatchHead: sample {i} has targets of '
                    f'{tuple(masks.shape)} but a loss region of '
                    f'{tuple(region.shape)}, expected {expected}')
        losses = {}
        for block, (cls_scores, mask_preds) in enumerate(
                zip(all_cls_scores, all_mask_preds)):
            loss_cls, loss_mask, loss_dice = self._loss_by_feat_single(
                cls_scores, mask_preds, batch_gt_masks, batch_gt_present,
                batch_gt_regions)
            prefix = 'batch.' if block == num_blocks - 1 else \
                f'batch.d{block}.'
            losses[f'{prefix}loss_cls'] = loss_cls
            losses[f'{prefix}loss_mask'] = loss_mask
            losses[f'{prefix}loss_dice'] = loss_dice
        return losses

    def _get_targets_single(self, cls_score: Tensor, mask_pred: Tensor,
                            gt_masks: Tensor, present: Tensor,
                            region: Tensor) -> Tuple[Tensor, Tensor]:
        """Joint matching of one sample.

        Args:
            cls_score (Tensor): (N, 2).
            mask_pred (Tensor): (N, V, H, W).
            gt_masks (Tensor): (G, V, H', W').
            present (Tensor): bool (G, V).
            region (Tensor): bool (V, H', W'), the views' loss regions.

        Returns:
            tuple[Tensor, Tensor]: ``pos_inds`` (the matched queries) and
            ``pos_gt_inds`` (their entities).
        """
        num_queries, num_views = mask_pred.shape[:2]
        if gt_masks.dim() != 4 or gt_masks.shape[1] != num_views or \
                present.shape != gt_masks.shape[:2]:
            raise ValueError(
                f'CropFormerBatchHead: targets must be masks (G, {num_views}'
                f', H, W) and present (G, {num_views}), got '
                f'{tuple(gt_masks.shape)} and {tuple(present.shape)}')
        num_gts = gt_masks.shape[0]
        if num_gts == 0:
            empty = gt_masks.new_zeros((0, ), dtype=torch.long)
            return empty, empty
        labels = gt_masks.new_zeros((num_gts, ), dtype=torch.long)
        # the same uniformly drawn points in every view, as Mask2Former
        point_coords = torch.rand((num_views, self.num_points, 2),
                                  device=cls_score.device)
        # (V, N, P) -> (N, V, P)
        pred_points = point_sample(mask_pred.transpose(0, 1),
                                   point_coords).transpose(0, 1)
        # (V, G, P) -> (G, V, P)
        gt_points = point_sample(
            gt_masks.transpose(0, 1).float(), point_coords).transpose(0, 1)
        # points outside a view's loss region cost nothing to any pair:
        # prediction sigmoid ~0 against target 0 (the costs are sums over
        # points, so a constant per query would still bias the matching)
        in_region = point_sample(region[:, None].float(),
                                 point_coords).squeeze(1) >= 0.5  # (V, P)
        pred_points = torch.where(in_region[None], pred_points,
                                  pred_points.new_tensor(-FAR_LOGIT))
        gt_points = gt_points * in_region[None]
        assign_result = self.assigner.assign(
            pred_instances=InstanceData(scores=cls_score, masks=pred_points),
            gt_instances=InstanceData(
                labels=labels, masks=gt_points, present=present))
        pos_inds = torch.nonzero(
            assign_result.gt_inds > 0, as_tuple=False).squeeze(-1)
        pos_gt_inds = assign_result.gt_inds[pos_inds] - 1
        return pos_inds, pos_gt_inds

    def _loss_by_feat_single(
            self, cls_scores: Tensor, mask_preds: Tensor,
            batch_gt_masks: List[Tensor], batch_gt_present: List[Tensor],
            batch_gt_regions: List[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
        """``loss_cls``, ``loss_mask`` and ``loss_dice`` of one block."""
        batch, num_queries, num_views = mask_preds.shape[:3]
        if len(batch_gt_masks) != batch or len(batch_gt_present) != batch:
            raise ValueError(f'CropFormerBatchHead: {batch} samples but '
                             f'{len(batch_gt_masks)} target masks and '
                             f'{len(batch_gt_present)} present arrays')
        # label 0: entity, 1: no entity (as MultiLevelDecoderHead)
        labels = cls_scores.new_ones((batch, num_queries), dtype=torch.long)
        pos_preds, pos_targets, pos_regions = [], [], []
        for i in range(batch):
            pos_inds, pos_gt_inds = self._get_targets_single(
                cls_scores[i].detach(), mask_preds[i].detach(),
                batch_gt_masks[i], batch_gt_present[i], batch_gt_regions[i])
            labels[i, pos_inds] = 0
            pos_preds.append(mask_preds[i][pos_inds])
            pos_targets.append(batch_gt_masks[i][pos_gt_inds])
            pos_regions.append(batch_gt_regions[i].expand(
                len(pos_inds), *batch_gt_regions[i].shape))

        flat_scores = cls_scores.flatten(0, 1)
        flat_labels = labels.flatten(0, 1)
        if self.class_weight is not None:
            class_weight = cls_scores.new_tensor(self.class_weight)
        else:
            class_weight = cls_scores.new_ones(cls_scores.shape[-1])
        loss_cls = self.loss_cls(
            flat_scores,
            flat_labels,
            avg_factor=class_weight[flat_labels].sum())

        # (num_pos, V, H, W)
        mask_preds = torch.cat(pos_preds, dim=0)
        mask_targets = torch.cat(pos_targets, dim=0)
        num_masks = reduce_mean(cls_scores.new_tensor(float(
            len(mask_preds)))).clamp(min=1)
        if len(mask_preds) == 0:
            # no match: empty sums keep the graph connected
            return loss_cls, mask_preds.sum(), mask_preds.sum()
        num_pos = len(mask_preds)
        # (num_pos * V, 1, H', W'): the loss region of each (query, view)
        regions = torch.cat(pos_regions).flatten(0, 1).unsqueeze(1).to(
            mask_preds.dtype)
        # points of each (query, view) pair where its prediction is least
        # certain, (num_pos * V, P, 2); outside the region the logits are
        # made certain, so those pixels do not attract points
        view_preds = mask_preds.flatten(0, 1).unsqueeze(1)
        with torch.no_grad():
            low_res_region = F.interpolate(
                regions, size=view_preds.shape[-2:], mode='area') > 0
            certain_preds = torch.where(low_res_region, view_preds.detach(),
                                        view_preds.new_tensor(FAR_LOGIT))
            points_coords = get_uncertain_point_coords_with_randomness(
                certain_preds, None, self.num_points, self.oversample_ratio,
                self.importance_sample_ratio)
            point_targets = point_sample(
                mask_targets.flatten(0, 1).unsqueeze(1).float(),
                points_coords).reshape(num_pos, -1)
            point_weights = (point_sample(regions, points_coords).reshape(
                num_pos, -1) >= 0.5).to(mask_preds.dtype)
            point_targets = point_targets * point_weights
        # (num_pos, V * P): a query's points in all views form one mask
        point_preds = point_sample(view_preds,
                                   points_coords).reshape(num_pos, -1)
        # points outside the region: sigmoid 0 and target 0 add nothing to
        # the dice sums
        dice_preds = torch.where(point_weights > 0, point_preds,
                                 point_preds.new_tensor(-FAR_LOGIT))
        loss_dice = self.loss_dice(
            dice_preds, point_targets, avg_factor=num_masks)
        loss_mask = self.loss_mask(
            point_preds.reshape(-1),
            point_targets.reshape(-1),
            weight=point_weights.reshape(-1),
            avg_factor=num_masks * point_preds.shape[1])
        return loss_cls, loss_mask, loss_dice
