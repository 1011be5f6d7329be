# Copyright (c) mmaims contributors. All rights reserved.
"""The entity segmentation framework of open-world entity segmentation
(paper 002, Qi et al., Sec. 5) on mmdet's CondInst.

- :class:`EntityBboxHead`: CondInst's FCOS-style detection head, class
  agnostic (one "entityness" score), entities represented by the centre of
  mass of their masks (mmdet's CondInst already takes the mask centroid as
  the centre for centre sampling when masks are given: stuff and
  disconnected regions included), inference score
  ``sqrt(centerness x entityness)`` (Sec. 5.4).
- :class:`EntityMaskHead`: CondInst's dynamic mask head with the global
  kernel bank (Sec. 5.2, eq. 1-2: a static and a dynamic kernel at each of
  the three layers, seven paths trained with per-path Dice weights, only the
  all-dynamic path at inference) and the overlap suppression loss (Sec. 5.3,
  eq. 3-4, :class:`~mmaims.models.losses.OverlapSuppressionLoss` on the
  all-dynamic path). Both switch off (``kernel_bank=False``,
  ``loss_overlap=None``): the head is then mmdet's class-agnostic CondInst
  mask head (the baseline of the paper's Table 2a).
"""
from typing import List, Optional, Sequence, Tuple

import torch
from mmdet.models.dense_heads import CondInstBboxHead, CondInstMaskHead
from mmdet.models.utils import aligned_bilinear, relative_coordinate_maps
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, InstanceList, OptConfigType
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmaims.registry import MODELS

#: The seven paths of the kernel bank, as (dynamic?) per mask-head layer in
#: the order the layers are applied to the features (layer 0 first), and
#: the weight of each path's Dice (Sec. 5.2: [0.25, 0.25, 0.25, 1, 1, 1,
#: 1]). The seed's eq. 2 and its weights disagree on which paths are which:
#: written as nested convolutions, eq. 2 applies theta^{v_2} to the features
#: first, while the text says the three small weights go to the paths whose
#: FIRST layer is static ("the convolution weights of the first layer would
#: be better in dynamic format"). We follow the text (the only reading that
#: makes the weights mean something): u is the order of application, paths
#: 1-3 are the three with a static first layer (weight 0.25), paths 4-7 those
#: with a dynamic first layer (weight 1), path 7 is all dynamic (inference,
#: overlap suppression), and within each group the paths count up in
#: binary over layers 1-2, as eq. 2 lists them (s s d, s d s, ...).
KERNEL_BANK_PATHS: Tuple[Tuple[bool, bool, bool], ...] = (
    (False, False, True),
    (False, True, False),
    (False, True, True),
    (True, False, False),
    (True, False, True),
    (True, True, False),
    (True, True, True),
)
KERNEL_BANK_WEIGHTS: Tuple[float, ...] = (0.25, 0.25, 0.25, 1., 1., 1., 1.)


@MODELS.register_module()
class EntityBboxHead(CondInstBboxHead):
    """Class-agnostic CondInst detection head of the entity framework
    (entityness, centerness, box and kernel branches; Sec. 5.1).

    ``num_classes`` is 1: the one sigmoid score is the entityness. Centre
    sampling (``center_sampling=True`` in the configs) uses the centre of
    mass of each entity's mask, which mmdet's CondInst computes from the
    mask moments whenever ``gt_instances`` carry masks; for a disconnected
    region (stuff) the centre of mass may fall between its parts, and the
    points around it are still its positives (the paper represents every
    entity by its mass centre). At inference the score of a location is
    ``sqrt(centerness x entityness)`` (Sec. 5.4) instead of FCOS's product,
    before box NMS.

    Args:
        **kwargs: The arguments of mmdet's ``CondInstBboxHead``;
            ``num_classes`` must be 1 (the default here).
    """

    def __init__(self, *args, num_classes: int = 1, **kwargs) -> None:
        if num_classes != 1:
            raise ValueError('EntityBboxHead is class-agnostic: num_classes '
                             f'must be 1 (entityness), got {num_classes}')
        super().__init__(*args, num_classes=num_classes, **kwargs)

    def _bbox_post_process(self,
                           results: InstanceData,
                           cfg: ConfigType,
                           rescale: bool = False,
                           with_nms: bool = True,
                           img_meta: Optional[dict] = None) -> InstanceData:
        """Score ``sqrt(centerness x entityness)``, then mmdet's box NMS
        and rescaling."""
        if 'score_factors' in results:
            score_factors = results.pop('score_factors')
            results.scores = (results.scores * score_factors).sqrt()
        return super()._bbox_post_process(
            results,
            cfg,
            rescale=rescale,
            with_nms=with_nms,
            img_meta=img_meta)


@MODELS.register_module()
class EntityMaskHead(CondInstMaskHead):
    """CondInst mask head with the global kernel bank and overlap
    suppression (Sec. 5.2-5.3).

    The kernel bank adds a learnable static kernel (weights and bias, shared
    by all entities) beside the dynamic one at each of the three layers.
    Training runs the seven paths of :data:`KERNEL_BANK_PATHS` on every
    sampled kernel and sums their Dice losses with ``path_weights`` (eq. 1,
    5); inference runs only the all-dynamic path (the plain CondInst mask
    head, so its cost is unchanged). Loss keys: ``loss_mask`` (the
    all-dynamic path) and ``loss_mask_path{r}`` (r = 1..6).

    Overlap suppression (eq. 3-4): the all-dynamic masks of the kernels
    assigned to one entity are averaged into a representative mask, a
    softmax across entities is taken at every pixel and its Dice against
    the entities' masks is the ``loss_overlap``; pixels outside the
    sample's ``valid_region`` are ignored (the paper: pixels without
    annotations). The kernels it sees are the ones the Dice losses see
    (after ``max_masks_to_train`` / ``topk_masks_per_img``).

    Args:
        kernel_bank (bool): Train the seven paths. False: the all-dynamic
            path only (mmdet's CondInst). Defaults to True.
        path_weights (Sequence[float]): Dice weight of each path, in the
            order of :data:`KERNEL_BANK_PATHS`. Defaults to
            :data:`KERNEL_BANK_WEIGHTS`.
        loss_overlap (dict, optional): Config of
            :class:`~mmaims.models.losses.OverlapSuppressionLoss`. Defaults
            to None (off).
        **kwargs: The arguments of mmdet's ``CondInstMaskHead``
            (``num_layers`` must be 3 with the kernel bank).
    """

    def __init__(self,
                 *args,
                 kernel_bank: bool = True,
                 path_weights: Sequence[float] = KERNEL_BANK_WEIGHTS,
                 loss_overlap: OptConfigType = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kernel_bank = bool(kernel_bank)
        if self.kernel_bank:
            if self.num_layers != len(KERNEL_BANK_PATHS[0]):
                raise ValueError(
                    'EntityMaskHead: the kernel bank is defined for a '
                    f'{len(KERNEL_BANK_PATHS[0])}-layer mask head, got '
                    f'num_layers={self.num_layers}')
            if len(path_weights) != len(KERNEL_BANK_PATHS):
                raise ValueError(
                    f'EntityMaskHead: {len(KERNEL_BANK_PATHS)} path weights '
                    f'needed, got {len(path_weights)}')
            self.path_weights = tuple(float(w) for w in path_weights)
            # one static kernel per layer, shaped as one entity's dynamic
            # kernel (out, in, 1, 1) and bias (out, )
            self.static_weights = nn.ParameterList()
            self.static_biases = nn.ParameterList()
            for num_weights, num_biases in zip(self.weight_nums,
                                               self.bias_nums):
                weight = torch.empty(num_biases, num_weights // num_biases, 1,
                                     1)
                nn.init.kaiming_uniform_(weight, a=1)
                self.static_weights.append(nn.Parameter(weight))
                self.static_biases.append(
                    nn.Parameter(torch.zeros(num_biases)))
        self.loss_overlap = None if loss_overlap is None else MODELS.build(
            loss_overlap)

    def paths(self) -> Tuple[Tuple[bool, ...], ...]:
        """The paths run now: all seven in training with the kernel bank,
        else the all-dynamic one."""
        all_dynamic = (True, ) * self.num_layers
        if self.kernel_bank and self.training:
            return KERNEL_BANK_PATHS
        return (all_dynamic, )

    def forward_single(self, mask_feat: Tensor,
                       positive_info: InstanceData) -> Tuple[Tensor]:
        """Masks of one image's kernels.

        Returns:
            tuple[Tensor]: In training with the kernel bank, the mask
            logits of every path, (num_inst, 7, H, W) (the instances first,
            so that mmdet's selection of the kernels to train indexes all
            paths alike); otherwise those of the all-dynamic path,
            (num_inst, H, W), as mmdet's ``CondInstMaskHead``.
        """
        paths = self.paths()
        if paths == ((True, ) * self.num_layers, ):
            return super().forward_single(mask_feat, positive_info)
        params = positive_info.get('param_preds')
        num_inst = params.shape[0]
        _, height, width = mask_feat.shape
        if num_inst == 0:
            return (params.new_zeros((0, len(paths), height, width)), )
        # the input of the mask head (relative coordinates + mask features),
        # as mmdet's forward_single builds it; shared by the seven paths
        locations = self.prior_generator.single_level_grid_priors(
            (height, width), 0, device=mask_feat.device)
        rel_coords = relative_coordinate_maps(locations,
                                              positive_info.get('points'),
                                              positive_info.get('strides'),
                                              self.size_of_interest,
                                              (height, width))
        inputs = torch.cat(
            [rel_coords, mask_feat[None].expand(num_inst, -1, -1, -1)],
            dim=1).reshape(1, -1, height, width)
        dynamic_weights, dynamic_biases = self.parse_dynamic_params(params)
        masks = []
        for path in paths:
            weights, biases = [], []
            for layer, dynamic in enumerate(path):
                if dynamic:
                    weights.append(dynamic_weights[layer])
                    biases.append(dynamic_biases[layer])
                else:
                    weights.append(self.static_weights[layer].repeat(
                        num_inst, 1, 1, 1))
                    biases.append(self.static_biases[layer].repeat(num_inst))
            masks.append(
                self.dynamic_conv_forward(inputs, weights, biases,
                                          num_inst).reshape(
                                              num_inst, height, width))
        masks = torch.stack(masks, dim=1)
        factor = int(self.mask_feat_stride / self.mask_out_stride)
        return (aligned_bilinear(masks, factor), )

    def loss(self,
             x: Sequence[Tensor],
             batch_data_samples: SampleList,
             positive_infos: Optional[InstanceList] = None,
             **kwargs) -> dict:
        """mmdet's mask-head loss, with each sample's ``valid_region`` for
        the overlap suppression."""
        valid_regions = [
            s.valid_region.data[0].bool() if 'valid_region' in s else None
            for s in batch_data_samples
        ]
        return super().loss(
            x,
            batch_data_samples,
            positive_infos=positive_infos,
            valid_regions=valid_regions,
            **kwargs)

    def loss_by_feat(self,
                     mask_preds: List[Tensor],
                     batch_gt_instances: InstanceList,
                     batch_img_metas: List[dict],
                     positive_infos: InstanceList,
                     valid_regions: Optional[List[Optional[Tensor]]] = None,
                     **kwargs) -> dict:
        """Dice of every path (eq. 1), averaged over the positives of the
        batch as mmdet's CondInst averages its Dice, and the overlap
        suppression loss (eq. 4), averaged over the clusters (entities) of
        the batch: one Dice per representative mask, so that it weighs like
        one mask's Dice in eq. 5 whatever the number of kernels per
        entity.

        Args:
            mask_preds (list[Tensor]): Per image, :meth:`forward_single`'s
                output.
            batch_gt_instances (list[InstanceData]): ``masks`` (padded).
            batch_img_metas (list[dict]): Meta information.
            positive_infos (list[InstanceData]): The bbox head's positives.
            valid_regions (list[Tensor | None], optional): Per image, bool
                (H_pad, W_pad) or None.

        Returns:
            dict[str, Tensor]: ``loss_mask``, ``loss_mask_path{r}`` with
            the kernel bank, ``loss_overlap`` with overlap suppression.
        """
        num_paths = len(self.paths())
        if valid_regions is None:
            valid_regions = [None] * len(mask_preds)
        dice_sums = [0.] * num_paths
        overlap_sum = 0.
        total_pos = total_clusters = 0
        for mask_pred, gt_instances, positive_info, region in zip(
                mask_preds, batch_gt_instances, positive_infos, valid_regions):
            if num_paths == 1:
                mask_pred = mask_pred[:, None]
            gt_inds = positive_info.get('pos_assigned_gt_inds')
            # mmdet's choice of the kernels to train (random or top-k),
            # read back through their row indices, so that the clusters of
            # the overlap suppression are the kernels the Dice sees
            rows = torch.arange(
                len(gt_inds), device=mask_pred.device, dtype=torch.float)
            selected, targets, num_pos = super()._get_targets_single(
                rows[:, None, None], gt_instances, positive_info)
            total_pos += num_pos
            if num_pos == 0 or targets is None:
                zero = mask_pred.sum() * 0.
                dice_sums = [s + zero for s in dice_sums]
                overlap_sum = overlap_sum + zero
                continue
            selected = selected.reshape(-1).long()
            mask_pred = mask_pred[selected]
            for p in range(num_paths):
                dice_sums[p] = dice_sums[p] + self.loss_mask(
                    mask_pred[:, p], targets, reduction_override='none').sum()
            if self.loss_overlap is not None:
                total_clusters += len(gt_inds[selected].unique())
                overlap_sum = overlap_sum + self._overlap_loss(
                    mask_pred[:, -1], gt_inds[selected], gt_instances, region)
        total_pos = max(total_pos, 1)
        losses = dict(loss_mask=dice_sums[-1] / total_pos)
        if num_paths > 1:
            losses['loss_mask'] = losses['loss_mask'] * self.path_weights[-1]
            for p in range(num_paths - 1):
                losses[f'loss_mask_path{p + 1}'] = \
                    dice_sums[p] * self.path_weights[p] / total_pos
        if self.loss_overlap is not None:
            losses['loss_overlap'] = overlap_sum / max(total_clusters, 1)
        return losses

    def _overlap_loss(self, logits: Tensor, gt_inds: Tensor,
                      gt_instances: InstanceData,
                      region: Optional[Tensor]) -> Tensor:
        """Overlap suppression of one image: clusters are the kernels of
        each entity; summed over its entities (the caller averages over
        the clusters of the batch)."""
        start = int(self.mask_out_stride // 2)
        stride = self.mask_out_stride
        entities = gt_inds.unique()
        gt_masks = gt_instances.masks.to_tensor(
            dtype=torch.bool, device=logits.device)[:, start::stride,
                                                    start::stride]
        if region is not None:
            region = region.to(logits.device)[start::stride, start::stride]
        clusters = [logits[gt_inds == e] for e in entities]
        # the masks may be a pixel larger than the logits (odd padding)
        h, w = logits.shape[-2:]
        targets = gt_masks[entities][:, :h, :w]
        return self.loss_overlap(
            clusters,
            targets,
            valid_region=None if region is None else region[:h, :w],
            reduction_override='sum')
