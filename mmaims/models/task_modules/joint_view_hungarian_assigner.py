# Copyright (c) mmaims contributors. All rights reserved.
from typing import List, Optional, Union

import torch
from mmdet.models.task_modules import AssignResult, BaseAssigner
from mmengine import ConfigDict
from mmengine.structures import InstanceData
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from mmaims.registry import TASK_UTILS

CostConfigs = Union[dict, ConfigDict, List[Union[dict, ConfigDict]]]


@TASK_UTILS.register_module()
class JointViewHungarianAssigner(BaseAssigner):
    """One-to-one matching of batch queries to entities over all views at
    once (CropFormer's batch-level matching, paper 003, eq. 7).

    A batch query predicts one entityness for all V views and one mask per
    view. Its cost for an entity is

    - the ``match_costs`` (e.g. mmdet's ``ClassificationCost``) on the
      query's scores, counted once, plus
    - the ``view_match_costs`` (e.g. ``CrossEntropyLossCost`` and
      ``DiceCost``) of its mask in view ``v`` against the entity's mask in
      view ``v``, **summed over the views where the entity is present**. An
      entity absent from a crop (``gt_crop_index`` = -1 of
      :class:`~mmaims.datasets.transforms.CropFormerViews`) adds nothing
      for that view: it is matched on the views that show it.

    The matching is then a single Hungarian assignment, as mmdet's
    ``HungarianAssigner``, so a query is tied to the same entity in every
    view. Matching each view on its own can pair a query with different
    entities in different views.

    Args:
        match_costs (:obj:`ConfigDict` or dict or list): Costs computed
            once per (query, entity) pair from ``scores``.
        view_match_costs (:obj:`ConfigDict` or dict or list): Costs
            computed per view from ``masks`` and summed over the views
            where the entity is present.
    """

    def __init__(self, match_costs: CostConfigs,
                 view_match_costs: CostConfigs) -> None:
        self.match_costs = self._build(match_costs)
        self.view_match_costs = self._build(view_match_costs)
        if not self.view_match_costs:
            raise ValueError('JointViewHungarianAssigner: view_match_costs '
                             'must not be empty')

    @staticmethod
    def _build(costs: CostConfigs) -> list:
        if isinstance(costs, (dict, ConfigDict)):
            costs = [costs]
        return [TASK_UTILS.build(cost) for cost in costs]

    def get_cost(self,
                 pred_instances: InstanceData,
                 gt_instances: InstanceData,
                 img_meta: Optional[dict] = None) -> Tensor:
        """The joint matching cost.

        Args:
            pred_instances (:obj:`InstanceData`): ``scores`` (N, 2) logits
                and ``masks`` (N, V, P): the mask logits of each view (e.g.
                at P sampled points of each view).
            gt_instances (:obj:`InstanceData`): ``labels`` (G, ), ``masks``
                (G, V, P) and ``present`` bool (G, V): whether the entity is
                in view ``v`` (its mask there is then ignored when False).
            img_meta (dict, optional): Passed to the match costs.

        Returns:
            Tensor: (N, G) cost.
        """
        pred_masks, gt_masks = pred_instances.masks, gt_instances.masks
        present = gt_instances.present
        num_views = pred_masks.shape[1]
        if gt_masks.shape[1] != num_views or present.shape[1] != num_views:
            raise ValueError('JointViewHungarianAssigner: predictions have '
                             f'{num_views} views but the targets have masks '
                             f'{tuple(gt_masks.shape)} and present '
                             f'{tuple(present.shape)}')
        cost = pred_masks.new_zeros((len(pred_instances), len(gt_instances)))
        for match_cost in self.match_costs:
            cost = cost + match_cost(
                pred_instances=pred_instances,
                gt_instances=gt_instances,
                img_meta=img_meta)
        for view in range(num_views):
            view_pred = InstanceData(
                scores=pred_instances.scores, masks=pred_masks[:, view])
            view_gt = InstanceData(
                labels=gt_instances.labels, masks=gt_masks[:, view])
            view_cost = sum(
                match_cost(
                    pred_instances=view_pred,
                    gt_instances=view_gt,
                    img_meta=img_meta) for match_cost in self.view_match_costs)
            weight = present[:, view].to(view_cost.dtype)
            cost = cost + view_cost * weight[None, :]
        return cost

    def assign(self,
               pred_instances: InstanceData,
               gt_instances: InstanceData,
               img_meta: Optional[dict] = None,
               **kwargs) -> AssignResult:
        """Match every query to at most one entity (1-based in
        ``gt_inds``; 0: no entity), as mmdet's ``HungarianAssigner``.

        Args:
            pred_instances (:obj:`InstanceData`): See :meth:`get_cost`.
            gt_instances (:obj:`InstanceData`): See :meth:`get_cost`.
            img_meta (dict, optional): Passed to the match costs.

        Returns:
            :obj:`AssignResult`: The assignment.
        """
        num_gts, num_preds = len(gt_instances), len(pred_instances)
        gt_labels = gt_instances.labels
        device = gt_labels.device
        assigned_gt_inds = torch.zeros((num_preds, ),
                                       dtype=torch.long,
                                       device=device)
        assigned_labels = torch.full((num_preds, ),
                                     -1,
                                     dtype=torch.long,
                                     device=device)
        if num_gts and num_preds:
            cost = self.get_cost(pred_instances, gt_instances, img_meta)
            rows, cols = linear_sum_assignment(cost.detach().cpu().numpy())
            rows = torch.from_numpy(rows).to(device)
            cols = torch.from_numpy(cols).to(device)
            assigned_gt_inds[rows] = cols + 1
            assigned_labels[rows] = gt_labels[cols]
        return AssignResult(
            num_gts=num_gts,
            gt_inds=assigned_gt_inds,
            max_overlaps=None,
            labels=assigned_labels)
