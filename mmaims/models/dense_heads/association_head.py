# Copyright (c) mmaims contributors. All rights reserved.
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, OptMultiConfig, reduce_mean
from mmengine.model import BaseModule
from torch import Tensor

from mmaims.registry import MODELS
from mmaims.structures import ENTITY, RELATION
from mmaims.structures.fields import GT_FIELDS, LINK_TYPES
from mmaims.structures.tasks import parse_task

#: (pair key, parent decoder, child decoder) of the association maps: one
#: per link type, keyed by its identifier form (``entity_part``)
DEFAULT_PAIRS = tuple((t.key, t.parent, t.child) for t in LINK_TYPES)

Assignment = Optional[Tuple[Tensor, Tensor]]


@MODELS.register_module()
class AssociationHead(BaseModule):
    r"""Association module of AIMS (eq. 8-9 of the paper).

    Every level's final query embeddings :math:`E_T` (``query_feats`` of the
    decoder head, ``B x Q_T x C``) go through a fully-connected layer of that
    level; the dot products give the association logits

    - ``entity_part``: :math:`FC(E_e) \cdot FC(E_p)^T`, ``B x Q_e x Q_p``;
    - ``relation_entity``: :math:`FC(E_r) \cdot FC(E_e)^T`, ``B x Q_r x Q_e``.

    **Targets** (``loss``). A pair type is trained on an image only when both
    of its decoders are supervised on that image with their own level
    (``task['supervision'][decoder]['level'] == decoder``; e.g. the relation
    decoder of a two-entity sample, matched to entities, trains no
    relation-entity association). The queries of each decoder are split by
    the decoder head's Hungarian assignment of the last block into matched
    queries (each with a GT row) and unmatched ones. The query pairs that
    count are:

    - matched parent x matched child, when the GT link of the pair is known:
      target 1 if the GT rows are linked, 0 otherwise. The link is known
      when the row that carries it has it: a part's
      ``gt_part_instances.entity_index >= 0`` for ``entity_part``; both
      entries of a relation's ``gt_relation_instances.entity_index >= 0``
      for ``relation_entity``. A part whose parent is unknown (-1) may
      belong to an unannotated-as-link entity, so its column is ignored;
    - unmatched x anything (either side unmatched), as negatives (target 0),
      only when **both** decoders are supervised exhaustively
      (``supervision[decoder]['exhaustive']``): there an unmatched query is
      pushed to "no object", so it links to nothing. Otherwise an unmatched
      query may be a true but unannotated segment and its pairs are ignored.

    **Balance.** Positive pairs are rare: a PPP-like image with 20
    matched parts of 5 entities counts 20 positive pairs among the
    ``Q_e x Q_p`` pairs (3 of 10,000 with 100 queries each), so the plain
    mean of eq. 8's BCE is almost all easy negatives and gives the module
    next to no signal. With ``balanced=True`` (default) the BCE of each
    pair type is the mean of two means, over the counted positive pairs
    and over the counted negative pairs (the batch-level, cross-GPU
    counts)::

        L = (sum_pos BCE / N_pos + sum_neg BCE / N_neg) / 2

    so linked and unlinked pairs weigh the same however many queries there
    are; at initialisation (logits near 0) it is ``ln 2`` like the plain
    mean, so ``loss_weight`` keeps its scale. ``balanced=False`` is the
    paper's eq. 8 read literally (mean over all counted pairs). When no
    image of the batch counts a pair every weight is 0: the loss is 0 and
    every projection stays in the graph (DDP without
    ``find_unused_parameters``).

    **Diagnostic.** ``loss`` also returns ``'{pair}.link_recall'``: the
    fraction of the batch's counted positive pairs whose probability is
    above 0.5 (logged by mmengine, not added to the loss: its key has no
    ``loss``), present when the batch counts a positive pair.

    **Inference** (``predict``): the sigmoid of the logits, the scored links
    the post-processor turns into ``pred_*_links``.

    Args:
        in_channels (int): Channels of the query embeddings.
        feat_channels (int): Channels of the projected embeddings.
        pairs (Sequence[tuple[str, str, str]]): ``(key, parent, child)``
            decoder names of the association maps. Defaults to
            ``entity_part`` and ``relation_entity``.
        loss_assoc (dict): Config of the association loss; must be a
            sigmoid binary loss. Defaults to mmdet's
            ``CrossEntropyLoss(use_sigmoid=True, loss_weight=5.0)``: with
            the balanced BCE each pair's loss then weighs about as much as
            one decoder's last-block loss at initialisation (measured with
            ``tools/analysis_tools/loss_shares.py``; README).
        balanced (bool): Average positive and negative pairs separately
            (see above). Defaults to True.
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(self,
                 in_channels: int = 256,
                 feat_channels: int = 256,
                 pairs: Sequence[Tuple[str, str, str]] = DEFAULT_PAIRS,
                 loss_assoc: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     reduction='mean',
                     loss_weight=5.0),
                 balanced: bool = True,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.pairs = tuple(tuple(p) for p in pairs)
        if not self.pairs:
            raise ValueError('AssociationHead needs at least one pair')
        levels = []
        for key, parent, child in self.pairs:
            if parent == child:
                raise ValueError(f'pair "{key}" links decoder "{parent}" '
                                 'with itself')
            levels += [lvl for lvl in (parent, child) if lvl not in levels]
        self.levels = tuple(levels)
        self.in_channels = in_channels
        self.feat_channels = feat_channels
        self.projs = nn.ModuleDict({
            lvl: nn.Linear(in_channels, feat_channels)
            for lvl in self.levels
        })
        self.loss_assoc = MODELS.build(loss_assoc)
        self.balanced = balanced

    def forward(self, query_feats: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Association logits of every pair.

        Args:
            query_feats (dict[str, Tensor]): Decoder name -> final query
                embeddings, shape (B, Q_decoder, in_channels).

        Returns:
            dict[str, Tensor]: Pair key -> logits, shape (B, Q_parent,
            Q_child).
        """
        missing = [lvl for lvl in self.levels if lvl not in query_feats]
        if missing:
            raise KeyError(f'AssociationHead needs the query embeddings of '
                           f'decoders {missing}; got {sorted(query_feats)}')
        projected = {
            lvl: self.projs[lvl](query_feats[lvl])
            for lvl in self.levels
        }
        return {
            key: torch.einsum('bpc,bqc->bpq', projected[parent],
                              projected[child])
            for key, parent, child in self.pairs
        }

    def predict(self, query_feats: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Association probabilities of every pair.

        Args:
            query_feats (dict[str, Tensor]): As in :meth:`forward`.

        Returns:
            dict[str, Tensor]: Pair key -> sigmoid scores, shape
            (B, Q_parent, Q_child).
        """
        return {k: v.sigmoid() for k, v in self(query_feats).items()}

    def loss(self, query_feats: Dict[str, Tensor],
             assignments: Dict[str, List[Assignment]],
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Association loss (eq. 8) on the matched queries.

        Args:
            query_feats (dict[str, Tensor]): As in :meth:`forward`.
            assignments (dict[str, list]): Decoder name -> per image ``None``
                (decoder not supervised) or ``(query_inds, gt_inds)``, the
                Hungarian match of the decoder head's last block.
            batch_data_samples (list[DetDataSample]): The batch; links come
                from ``gt_part_instances.entity_index`` and
                ``gt_relation_instances.entity_index``, supervision from
                ``metainfo['task']['supervision']``.

        Returns:
            dict[str, Tensor]: ``'{pair}.loss_assoc'`` for every pair and
            ``'{pair}.link_recall'`` (a diagnostic, not a loss) for every
            pair with a counted positive pair in the batch.
        """
        logits = self(query_feats)
        losses = dict()
        for key, parent, child in self.pairs:
            targets, weights = [], []
            for i, data_sample in enumerate(batch_data_samples):
                target, weight = self._get_targets_single(
                    logits[key][i], parent, child,
                    self._assignment(assignments, parent, i),
                    self._assignment(assignments, child, i), data_sample)
                targets.append(target)
                weights.append(weight)
            target = torch.stack(targets).flatten()
            weight = torch.stack(weights).flatten()
            # float32 under mixed precision too: targets, weights, loss
            logit = logits[key].flatten().float()
            losses[f'{key}.loss_assoc'] = self._loss(logit, target, weight)
            positive = (weight > 0) & (target > 0)
            if positive.any():
                losses[f'{key}.link_recall'] = (
                    logit[positive].detach() > 0).float().mean()
        return losses

    def _loss(self, logit: Tensor, target: Tensor, weight: Tensor) -> Tensor:
        """Eq. 8's BCE of one pair type over the counted pairs (weight 1),
        balanced or plain (see the class docstring)."""
        if not self.balanced:
            # with no counted pair every weight is 0: the loss is 0 and the
            # projections stay in the graph
            num_pairs = reduce_mean(weight.sum().detach()).clamp(min=1.0)
            return self.loss_assoc(
                logit, target, weight, avg_factor=num_pairs)
        loss = 0.
        for part_weight in (weight * target, weight * (1 - target)):
            count = reduce_mean(part_weight.sum().detach()).clamp(min=1.0)
            loss = loss + self.loss_assoc(
                logit, target, part_weight, avg_factor=count)
        return loss / 2

    @staticmethod
    def _assignment(assignments: Dict[str, List[Assignment]], decoder: str,
                    index: int) -> Assignment:
        if decoder not in assignments:
            raise KeyError(f'no assignments for decoder "{decoder}"; got '
                           f'{sorted(assignments)}')
        return assignments[decoder][index]

    def _get_targets_single(self, logits: Tensor, parent: str, child: str,
                            parent_assign: Assignment,
                            child_assign: Assignment,
                            data_sample) -> Tuple[Tensor, Tensor]:
        """Association targets and pair weights of one image.

        Args:
            logits (Tensor): Logits of the pair, shape (Q_parent, Q_child).
            parent (str): Parent decoder name.
            child (str): Child decoder name.
            parent_assign (tuple[Tensor, Tensor], optional): Matched
                (query_inds, gt_inds) of the parent decoder.
            child_assign (tuple[Tensor, Tensor], optional): Same for the
                child decoder.
            data_sample (DetDataSample): The image's sample.

        Returns:
            tuple[Tensor, Tensor]: Targets (0/1) and weights (1 where the pair
            counts), both float (Q_parent, Q_child).
        """
        target = logits.new_zeros(logits.shape, dtype=torch.float32)
        weight = logits.new_zeros(logits.shape, dtype=torch.float32)
        if parent_assign is None or child_assign is None:
            return target, weight
        supervision = parse_task(data_sample.metainfo).supervision or {}
        sup_p, sup_c = supervision.get(parent), supervision.get(child)
        if sup_p is None or sup_c is None:
            return target, weight
        if sup_p.level != parent or sup_c.level != child:
            # e.g. the relation decoder matched to entities (two-entity
            # prompt): its queries are not relations, no R-E links exist.
            return target, weight
        link = self._gt_link_matrix(parent, child, data_sample)
        if link is None:
            return target, weight
        link, known = link
        link = link.to(logits.device)
        known = known.to(logits.device)

        p_queries, p_gts = (t.to(logits.device).long() for t in parent_assign)
        c_queries, c_gts = (t.to(logits.device).long() for t in child_assign)
        if sup_p.exhaustive and sup_c.exhaustive:
            # unmatched queries link to nothing; matched x matched pairs
            # are overwritten below
            weight.fill_(1.0)
            matched_p = torch.zeros(
                logits.shape[0], dtype=torch.bool, device=logits.device)
            matched_c = torch.zeros(
                logits.shape[1], dtype=torch.bool, device=logits.device)
            matched_p[p_queries] = True
            matched_c[c_queries] = True
            weight[matched_p[:, None] & matched_c[None, :]] = 0.0
        if len(p_queries) and len(c_queries):
            rows = p_queries[:, None].expand(-1, len(c_queries))
            cols = c_queries[None, :].expand(len(p_queries), -1)
            target[rows, cols] = link[p_gts][:, c_gts].float()
            weight[rows, cols] = known[p_gts][:, c_gts].float()
        return target, weight

    @staticmethod
    def _gt_link_matrix(parent: str, child: str,
                        data_sample) -> Optional[Tuple[Tensor, Tensor]]:
        """GT link matrix between the rows of two levels.

        Returns:
            tuple[Tensor, Tensor] or None: ``link`` (bool, N_parent x
            N_child, True where linked) and ``known`` (bool, same shape, True
            where the link status is known), or None when this pair of
            levels has no link field.
        """
        if (parent, child) not in {(t.parent, t.child) for t in LINK_TYPES}:
            raise ValueError(f'no GT link field for the pair ({parent}, '
                             f'{child}); supported: (entity, part), '
                             '(relation, entity)')
        # the rows of the non-entity level hold the links: a part its
        # entity, a relation its two entities (docs/data_sample.md)
        carrier = child if parent == ENTITY else parent
        field = GT_FIELDS[carrier]
        if GT_FIELDS[ENTITY] not in data_sample or field not in data_sample:
            return None
        num_e = len(data_sample.get(GT_FIELDS[ENTITY]))
        rows = data_sample.get(field)
        width = 2 if carrier == RELATION else 1
        entity_index = rows.entity_index.long().cpu().view(-1, width)
        _check_index(entity_index, num_e, field, data_sample)
        known_rows = (entity_index >= 0).all(dim=1)
        link = torch.zeros((len(rows), num_e), dtype=torch.bool)
        linked = torch.nonzero(known_rows).flatten()
        for col in range(width):
            link[linked, entity_index[linked, col]] = True
        known = known_rows[:, None].expand(-1, num_e)
        if carrier == child:  # entity -> part: (N_entity, N_part)
            return link.t().contiguous(), known.t().contiguous()
        return link, known.contiguous()


def _check_index(entity_index: Tensor, num_entities: int, field: str,
                 data_sample) -> None:
    """Raise ValueError if an entity index points past ``gt_instances``."""
    bad = entity_index >= num_entities
    if bad.any():
        img_id = data_sample.metainfo.get('img_id', '?')
        raise ValueError(
            f'image {img_id}: {field}.entity_index holds '
            f'{entity_index[bad].tolist()} but gt_instances has only '
            f'{num_entities} rows')
