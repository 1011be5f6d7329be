# Copyright (c) mmaims contributors. All rights reserved.
import copy
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.ops import point_sample
from mmdet.models.layers import SinePositionalEncoding
from mmdet.models.utils import get_uncertain_point_coords_with_randomness
from mmdet.structures import SampleList
from mmdet.structures.mask import BitmapMasks
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig, reduce_mean
from mmengine.model import BaseModule, ModuleDict, ModuleList
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmaims.registry import MODELS, TASK_UTILS
from mmaims.structures import ENTITY, LEVELS, PART, RELATION, check_level
from mmaims.structures.fields import (GT_FIELDS, IGNORED_FIELDS,
                                      LOSS_REGION_FIELD)
from mmaims.structures.tasks import parse_task
from ..layers import DecoderOutput, LevelDecoder

#: Mask2Former's losses (mmdet's ``Mask2FormerHead`` defaults, class-agnostic:
#: object / no-object with the no-object class weighted 0.1), the defaults of
#: every mask-decoding head of mmaims
MASK2FORMER_LOSS_CLS = dict(
    type='CrossEntropyLoss',
    use_sigmoid=False,
    loss_weight=2.0,
    reduction='mean',
    class_weight=[1.0, 0.1])
MASK2FORMER_LOSS_MASK = dict(
    type='CrossEntropyLoss',
    use_sigmoid=True,
    reduction='mean',
    loss_weight=5.0)
MASK2FORMER_LOSS_DICE = dict(
    type='DiceLoss',
    use_sigmoid=True,
    activate=True,
    reduction='mean',
    naive_dice=True,
    eps=1.0,
    loss_weight=5.0)

#: ``train_cfg['unannotated']``: what pixels outside ``valid_region`` are
#: on full-image samples: left out of the loss (mmaims) or background (paper)
UNANNOTATED_MODES = ('ignore', 'background')

#: Logit that makes sigmoid() exactly 0 in float32 and is still finite in
#: float16: used to take points out of the dice loss and the point sampling.
FAR_LOGIT = 1e4


@MODELS.register_module()
class MultiLevelDecoderHead(BaseModule):
    """Part, entity and relation decoders of AIMS with the task
    complementarity module (paper Sec. 3.1-3.2, eq. 2-7).

    One Mask2Former decoder (masked cross-attention, self-attention, FFN per
    block; learnable queries; object/no-object logits and mask embeddings per
    query, eq. 3) is instantiated for each name in ``decoders``. All
    decoders read the same image features (the shared pixel decoder is run
    by the detector). With ``tcm`` set, a
    :class:`~mmaims.models.layers.TaskComplementarityModule` per block and
    per pair of ``tcm_pairs`` fuses the embeddings of the two decoders after
    their self-attention and before their FFN. A decoder that takes part in
    two pairs (the entity decoder by default) goes through them in the order
    of ``tcm_pairs``: first entity-part, then relation-entity with the
    entity embeddings the first module returned. With ``tcm=None`` each
    decoder computes exactly what mmdet's ``Mask2FormerHead`` computes.

    Losses (eq. 4) follow ``Mask2FormerHead``: Hungarian matching on sampled
    points, cross-entropy on the two logits, point-sampled binary
    cross-entropy and dice on the masks, on the prediction of the initial
    queries and after every block. What a decoder is trained on comes from
    each sample's ``metainfo['task']['supervision']`` (docs/data_sample.md):
    images that do not name a decoder give it no loss; unmatched queries are
    pushed to "no object" only when the supervision is ``exhaustive``; mask
    losses and matching costs only count points inside
    ``prompt_mask AND valid_region AND NOT crowd`` (crowd = the
    ``ignored_*instances`` of the supervised level). ``valid_region`` (the
    annotated area of the source image) enters that region according to
    ``train_cfg['unannotated']``: ``'ignore'`` (mmaims's default) leaves
    pixels outside it out of every loss; ``'background'`` (the paper, Sec.
    3.1 and 3.4) makes them background on full-image samples (prompt type
    ``'full'``), which is the annotation problem that the paper's mask
    prompt encoder and partial-image prompts address; prompted samples
    still use it. A sample with a ``loss_region`` (a roughened prompt,
    :class:`SampleTaskPrompt`'s ``rough_prompts``) uses it in place of
    ``prompt_mask``. A sample without
    ``prompt_mask`` or ``valid_region`` counts the whole (padded) image for
    the missing one. Outside that region the mask logits are treated as
    certain when choosing Mask2Former's importance-sampled points, so those
    points fall inside it; the binary cross-entropy keeps mmdet's
    normalisation (number of masks x ``num_points``), so the few uniformly
    sampled points that fall outside a small region lower it slightly.

    With ``loss_overlap`` set, the entity and part decoders (``levels``)
    also get the overlap suppression loss of open-world entity segmentation
    (:class:`~mmaims.models.losses.OverlapSuppressionLoss`, Qi et al. Sec.
    5.3): the queries matched to the ground truth are the clusters (one
    query per entity after Hungarian matching), a softmax over them at
    every pixel of the mask-feature grid makes them compete, and its Dice
    against their targets penalises two queries claiming the same pixels.
    It counts only on samples whose supervision of the decoder is
    ``exhaustive`` (on a partial annotation the matched entities are not
    all the entities that compete for a pixel), only inside the loss region
    above, and only on pixels of exactly one target (pixels of no target or
    of an unmatched one have no cluster). It is computed on the last
    block's prediction only, with that block's matching: the paper applies
    it to the one path used at inference, and the earlier blocks'
    predictions are only deep supervision. The relation decoder never gets
    it: relation masks overlap their entities' and each other by design.

    Args:
        feat_channels (int): Channels of the multi-scale memories and of the
            queries.
        out_channels (int): Channels of the mask features.
        transformer_decoder (:obj:`ConfigDict` or dict): Config of mmdet's
            ``Mask2FormerTransformerDecoder``, shared by all decoders
            (paper: 9 layers, 256-d, 8 heads).
        decoders (Sequence[str]): Names of the decoders, each a level name.
            Defaults to ``('part', 'entity', 'relation')``.
        num_queries (int | dict[str, int]): Queries per decoder, one number
            for all or one per decoder name. Defaults to 100.
        num_transformer_feat_level (int): Number of feature levels in
            ``multi_scale_memorys``. Defaults to 3.
        enforce_decoder_input_project (bool): See ``Mask2FormerHead``.
            Defaults to False.
        positional_encoding (:obj:`ConfigDict` or dict): Config of the sine
            positional encoding of the memories. Defaults to
            ``dict(num_feats=128, normalize=True)``.
        tcm (:obj:`ConfigDict` or dict, optional): Config of the
            ``TaskComplementarityModule`` (``embed_dims`` is filled in);
            None switches the module off (Sec. 3.1 baseline). Defaults to
            ``dict(type='TaskComplementarityModule')``.
        tcm_pairs (Sequence[tuple[str, str]]): Pairs of decoders fused by the
            TCM, in the order they are applied. Defaults to
            ``(('entity', 'part'), ('relation', 'entity'))``.
        loss_cls (:obj:`ConfigDict` or dict): Object / no-object loss.
        loss_mask (:obj:`ConfigDict` or dict): Point-wise mask loss.
        loss_dice (:obj:`ConfigDict` or dict): Dice loss.
        loss_overlap (:obj:`ConfigDict` or dict, optional): Config of the
            overlap suppression loss (e.g. ``dict(type=
            'OverlapSuppressionLoss', loss_weight=1.0, levels=('entity',
            'part'))``); ``levels`` (popped before building; default: the
            entity and part decoders the head has) names the decoders that
            get it, never ``'relation'``. None switches it off (AIMS as in
            the paper, losses unchanged). Defaults to None.
        train_cfg (:obj:`ConfigDict` or dict, optional): ``assigner``,
            ``sampler``, ``num_points``, ``oversample_ratio``,
            ``importance_sample_ratio`` as in ``Mask2FormerHead``, and
            ``unannotated`` (``'ignore'`` or ``'background'``, see above;
            default ``'ignore'``). Needed by :meth:`loss`. Defaults to None.
        test_cfg (:obj:`ConfigDict` or dict, optional): The head reads
            ``lean_inference`` (default True): at inference the blocks
            before the last compute only the next block's attention mask,
            from mask features resized to its size (equal to the full path
            to float rounding; ``cls_scores`` and ``mask_preds`` then hold
            the last block's prediction only). The rest is for the
            detector; the head itself does no post-processing.
        init_cfg (:obj:`ConfigDict` or dict, optional): Initialization
            config. Defaults to None.
    """

    def __init__(self,
                 feat_channels: int,
                 out_channels: int,
                 transformer_decoder: ConfigType,
                 decoders: Sequence[str] = LEVELS,
                 num_queries: Union[int, Mapping[str, int]] = 100,
                 num_transformer_feat_level: int = 3,
                 enforce_decoder_input_project: bool = False,
                 positional_encoding: ConfigType = dict(
                     num_feats=128, normalize=True),
                 tcm: OptConfigType = dict(type='TaskComplementarityModule'),
                 tcm_pairs: Sequence[Tuple[str,
                                           str]] = (('entity', 'part'),
                                                    ('relation', 'entity')),
                 loss_cls: ConfigType = MASK2FORMER_LOSS_CLS,
                 loss_mask: ConfigType = MASK2FORMER_LOSS_MASK,
                 loss_dice: ConfigType = MASK2FORMER_LOSS_DICE,
                 loss_overlap: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.decoder_names = tuple(decoders)
        if not self.decoder_names:
            raise ValueError('MultiLevelDecoderHead needs at least one '
                             'decoder')
        if len(set(self.decoder_names)) != len(self.decoder_names):
            raise ValueError(f'MultiLevelDecoderHead: duplicate decoder '
                             f'names in {self.decoder_names}')
        for name in self.decoder_names:
            check_level(name, 'MultiLevelDecoderHead.decoders')
        if isinstance(num_queries, Mapping):
            missing = set(self.decoder_names) - set(num_queries)
            extra = set(num_queries) - set(self.decoder_names)
            if missing or extra:
                raise ValueError(
                    'MultiLevelDecoderHead.num_queries must have one entry '
                    f'per decoder {self.decoder_names}; missing '
                    f'{sorted(missing)}, unknown {sorted(extra)}')
            self.num_queries = {
                n: int(num_queries[n])
                for n in self.decoder_names
            }
        else:
            self.num_queries = {
                n: int(num_queries)
                for n in self.decoder_names
            }
        self.feat_channels = feat_channels
        self.out_channels = out_channels
        self.num_transformer_feat_level = num_transformer_feat_level

        self.decoders = ModuleDict()
        for name in self.decoder_names:
            self.decoders[name] = LevelDecoder(
                feat_channels=feat_channels,
                out_channels=out_channels,
                num_queries=self.num_queries[name],
                num_transformer_feat_level=num_transformer_feat_level,
                transformer_decoder=transformer_decoder,
                enforce_decoder_input_project=enforce_decoder_input_project)
        first = self.decoders[self.decoder_names[0]]
        self.num_transformer_decoder_layers = first.transformer_decoder.\
            num_layers
        self.decoder_embed_dims = first.decoder_embed_dims
        self.decoder_positional_encoding = SinePositionalEncoding(
            **positional_encoding)

        self.tcm_pairs = tuple(tuple(pair) for pair in tcm_pairs)
        self.with_tcm = tcm is not None
        if self.with_tcm:
            for pair in self.tcm_pairs:
                if len(pair) != 2 or pair[0] == pair[1] or \
                        not set(pair) <= set(self.decoder_names):
                    raise ValueError(
                        f'MultiLevelDecoderHead: TCM pair {pair} must name '
                        f'two different decoders of {self.decoder_names} '
                        '(or set tcm=None)')
            # one module per block and per pair (G^i of eq. 5 is per block)
            self.tcm_layers = ModuleList()
            for _ in range(self.num_transformer_decoder_layers):
                block = ModuleDict()
                for a, b in self.tcm_pairs:
                    tcm_cfg = copy.deepcopy(dict(tcm))
                    tcm_cfg.setdefault('embed_dims', self.decoder_embed_dims)
                    block[f'{a}_{b}'] = MODELS.build(tcm_cfg)
                self.tcm_layers.append(block)

        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        if train_cfg:
            self.assigner = TASK_UTILS.build(train_cfg['assigner'])
            self.sampler = TASK_UTILS.build(
                train_cfg.get('sampler', dict(type='MaskPseudoSampler')),
                default_args=dict(context=self))
            self.num_points = train_cfg.get('num_points', 12544)
            self.oversample_ratio = train_cfg.get('oversample_ratio', 3.0)
            self.importance_sample_ratio = train_cfg.get(
                'importance_sample_ratio', 0.75)
            self.unannotated = train_cfg.get('unannotated', 'ignore')
            if self.unannotated not in UNANNOTATED_MODES:
                raise ValueError(
                    f'train_cfg.unannotated must be one of '
                    f'{UNANNOTATED_MODES}, got {self.unannotated!r}')
        self.class_weight = loss_cls.get('class_weight', None)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_mask = MODELS.build(loss_mask)
        self.loss_dice = MODELS.build(loss_dice)
        self.overlap_levels: Tuple[str, ...] = ()
        self.loss_overlap = None
        if loss_overlap is not None:
            overlap_cfg = copy.deepcopy(dict(loss_overlap))
            self.overlap_levels = self._check_overlap_levels(
                overlap_cfg.pop('levels', None))
            self.loss_overlap = MODELS.build(overlap_cfg)

    def _check_overlap_levels(
            self, levels: Optional[Sequence[str]]) -> Tuple[str, ...]:
        """The decoders that get the overlap suppression loss."""
        where = 'MultiLevelDecoderHead.loss_overlap.levels'
        if levels is None:
            levels = [n for n in (ENTITY, PART) if n in self.decoder_names]
        elif isinstance(levels, str):
            levels = [levels]
        levels = tuple(dict.fromkeys(levels))
        for level in levels:
            check_level(level, where)
            if level == RELATION:
                raise ValueError(
                    f'{where}: the overlap suppression loss cannot be used '
                    'on the relation decoder: a relation mask covers both '
                    'of its entities and relations overlap each other by '
                    "design; use ('entity', 'part')")
            if level not in self.decoder_names:
                raise ValueError(f'{where}: {level!r} is not a decoder of '
                                 f'the head {self.decoder_names}')
        if not levels:
            raise ValueError(f'{where}: no entity or part decoder to apply '
                             f'it to among {self.decoder_names}')
        return levels

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    def _check_features(self, mask_features: Tensor,
                        multi_scale_memorys: Sequence[Tensor]) -> None:
        """Raise a clear error when the image features have the wrong
        layout."""
        if mask_features.dim() != 4 or \
                mask_features.shape[1] != self.out_channels:
            raise ValueError(
                'MultiLevelDecoderHead: mask_features must be (B, '
                f'{self.out_channels}, h, w), got '
                f'{tuple(mask_features.shape)}')
        if len(multi_scale_memorys) != self.num_transformer_feat_level:
            raise ValueError(
                f'MultiLevelDecoderHead: expected '
                f'{self.num_transformer_feat_level} multi_scale_memorys '
                f'(low to high resolution), got {len(multi_scale_memorys)}')
        for i, memory in enumerate(multi_scale_memorys):
            if memory.dim() != 4 or memory.shape[0] != \
                    mask_features.shape[0] or \
                    memory.shape[1] != self.feat_channels:
                raise ValueError(
                    f'MultiLevelDecoderHead: multi_scale_memorys[{i}] must '
                    f'be ({mask_features.shape[0]}, {self.feat_channels}, '
                    f'h, w), got {tuple(memory.shape)}')

    def forward(
        self,
        mask_features: Tensor,
        multi_scale_memorys: Sequence[Tensor],
        batch_data_samples: Optional[SampleList] = None,
        decoders: Optional[Sequence[str]] = None
    ) -> Dict[str, DecoderOutput]:
        """Run the decoders block by block.

        Args:
            mask_features (Tensor): Per-pixel embeddings at 1/4 of the padded
                input, shape (B, out_channels, H/4, W/4) (F_2, or F'_2 with
                the mask prompt encoder; finer with AIMS's
                ``mask_upsampler``, any size works).
            multi_scale_memorys (Sequence[Tensor]): Memories of the pixel
                decoder from low to high resolution (1/32, 1/16, 1/8), each
                (B, feat_channels, h_i, w_i).
            batch_data_samples (list[:obj:`DetDataSample`], optional): The
                batch; not needed by the computation, accepted for the mmdet
                head signature.
            decoders (Sequence[str], optional): Run only these decoders
                (and the TCM pairs with both decoders among them); the
                others are neither run nor returned. None: all of them.
                Training uses all (the detector never passes a subset
                there).

        Returns:
            dict[str, DecoderOutput]: For each decoder run, its
            ``cls_scores`` (num_layers + 1 Tensors (B, Q, 2): the
            prediction of the initial queries, then after every block),
            ``mask_preds`` (num_layers + 1 Tensors (B, Q, H/4, W/4)) and
            ``query_feats`` (Tensor (B, Q, C): post-normed embeddings of the
            last block, E_T of eq. 8).
        """
        self._check_features(mask_features, multi_scale_memorys)
        active = self._active_decoders(decoders)
        tcm_pairs = [
            pair for pair in self.tcm_pairs if set(pair) <= set(active)
        ] if self.with_tcm else []
        batch_size = mask_features.shape[0]
        num_levels = self.num_transformer_feat_level
        key_pos = []
        for memory in multi_scale_memorys:
            mask = memory.new_zeros(
                (batch_size, ) + memory.shape[-2:], dtype=torch.bool)
            # (B, C, h, w) -> (B, h*w, C)
            key_pos.append(
                self.decoder_positional_encoding(mask).flatten(2).permute(
                    0, 2, 1))

        # Lean inference: the intermediate predictions only serve as the
        # next block's attention masks; compute those from mask features
        # resized once per feature size, and the full prediction at the
        # last block only (training keeps every block's prediction for the
        # deep supervision).
        lean = not self.training and (self.test_cfg or {}).get(
            'lean_inference', True)
        resized = {}

        def at_size(size):
            size = tuple(size)
            if size not in resized:
                resized[size] = F.interpolate(
                    mask_features, size, mode='bilinear', align_corners=False)
            return resized[size]

        first_size = multi_scale_memorys[0].shape[-2:]
        states = OrderedDict(
            (name,
             decoder.start(mask_features, multi_scale_memorys,
                           at_size(first_size) if lean else None))
            for name, decoder in active.items())
        for i in range(self.num_transformer_decoder_layers):
            level = i % num_levels
            # eq. 2: masked cross-attention and self-attention, each level
            for name, decoder in active.items():
                decoder.attend(states[name], i, key_pos[level], level)
            # eq. 5-6: task complementarity, each pair of adjacent levels
            for a, b in tcm_pairs:
                tcm = self.tcm_layers[i][f'{a}_{b}']
                states[a].query, states[b].query = tcm(
                    states[a].query, states[b].query, states[a].query_pos,
                    states[b].query_pos)
            # eq. 7 and 3: each level's own FFN, then its prediction
            next_size = multi_scale_memorys[(i + 1) % num_levels].shape[-2:]
            last = i == self.num_transformer_decoder_layers - 1
            for name, decoder in active.items():
                decoder.feed_forward(states[name], i)
                if lean and not last:
                    decoder.predict_attn_mask(states[name], at_size(next_size))
                else:
                    decoder.predict(states[name], mask_features, next_size)
        return OrderedDict((name, self.decoders[name].output(state))
                           for name, state in states.items())

    def _active_decoders(
            self, decoders: Optional[Sequence[str]]) -> Dict[str, nn.Module]:
        """The decoders to run, in the head's order."""
        if decoders is None:
            return OrderedDict(self.decoders.items())
        unknown = set(decoders) - set(self.decoder_names)
        if unknown or not decoders:
            raise ValueError(
                f'MultiLevelDecoderHead: cannot run decoders '
                f'{list(decoders)}; the head has {list(self.decoder_names)}')
        return OrderedDict((name, self.decoders[name])
                           for name in self.decoder_names if name in decoders)

    def coupled_decoders(self, decoder: str) -> Tuple[str, ...]:
        """``decoder`` and the decoders the TCM couples with it, in the
        head's order (``decoder`` alone without TCM)."""
        names = {decoder}
        if self.with_tcm:
            for pair in self.tcm_pairs:
                if decoder in pair:
                    names.update(pair)
        return tuple(n for n in self.decoder_names if n in names)

    def predict(
        self,
        mask_features: Tensor,
        multi_scale_memorys: Sequence[Tensor],
        batch_data_samples: Optional[SampleList] = None,
        decoders: Optional[Sequence[str]] = None
    ) -> Dict[str, DecoderOutput]:
        """Forward without losses; see :meth:`forward` for the inputs and
        outputs. The detector post-processes the last entries of
        ``cls_scores`` and ``mask_preds``."""
        return self(mask_features, multi_scale_memorys, batch_data_samples,
                    decoders)

    # ------------------------------------------------------------------
    # losses
    # ------------------------------------------------------------------
    def loss(
        self, mask_features: Tensor, multi_scale_memorys: Sequence[Tensor],
        batch_data_samples: SampleList
    ) -> Tuple[dict, Dict[str, DecoderOutput], Dict[str, list]]:
        """Forward and compute the losses of every decoder.

        Args:
            mask_features (Tensor): See :meth:`forward`.
            multi_scale_memorys (Sequence[Tensor]): See :meth:`forward`.
            batch_data_samples (list[:obj:`DetDataSample`]): The batch, with
                the targets, ``prompt_mask``, ``valid_region``, crowd
                regions and ``metainfo['task']['supervision']``, all padded
                to the batch input shape.

        Returns:
            tuple: ``(losses, outputs, assignments)``:

            - losses (dict[str, Tensor]): ``'{decoder}.loss_cls'``,
              ``'{decoder}.loss_mask'``, ``'{decoder}.loss_dice'`` (last
              block) and ``'{decoder}.d{i}.loss_*'`` for
              i = 0 .. num_layers - 1 (deep supervision; d0 is the
              prediction of the initial queries); with ``loss_overlap``,
              ``'{decoder}.loss_overlap'`` for its decoders (last block;
              0 when no image supervises the decoder exhaustively).
            - outputs (dict[str, DecoderOutput]): As :meth:`forward`.
            - assignments (dict[str, list]): Per decoder, one entry per image:
              None when the image does not supervise the decoder, else
              ``(query_inds, gt_inds)`` LongTensors, the Hungarian match of
              the last block (``gt_inds`` index the rows of the supervised
              level's ``InstanceData``).
        """
        outputs = self(mask_features, multi_scale_memorys, batch_data_samples)
        losses = dict()
        assignments = dict()
        for name in self.decoder_names:
            decoder_losses, assignments[name] = self.loss_by_feat(
                outputs[name].cls_scores, outputs[name].mask_preds,
                batch_data_samples, name)
            losses.update(decoder_losses)
        return losses, outputs, assignments

    def loss_by_feat(self, all_cls_scores: List[Tensor],
                     all_mask_preds: List[Tensor],
                     batch_data_samples: SampleList,
                     decoder: str) -> Tuple[dict, list]:
        """Losses of one decoder, for the outputs of every block.

        Args:
            all_cls_scores (list[Tensor]): Object / no-object logits of every
                block, each (B, Q, 2).
            all_mask_preds (list[Tensor]): Mask logits of every block, each
                (B, Q, H/4, W/4).
            batch_data_samples (list[:obj:`DetDataSample`]): The batch.
            decoder (str): Name of the decoder.

        Returns:
            tuple[dict, list]: The losses (keys as in :meth:`loss`) and the
            assignment of the last block for each image (None for images
            that do not supervise this decoder).
        """
        if not self.train_cfg:
            raise RuntimeError('MultiLevelDecoderHead.loss needs train_cfg '
                               '(assigner, sampler, num_points, ...)')
        num_imgs = len(batch_data_samples)
        if all_cls_scores[0].shape[0] != num_imgs:
            raise ValueError(
                f'MultiLevelDecoderHead: {all_cls_scores[0].shape[0]} '
                f'predictions for {num_imgs} data samples')
        targets = [
            self.get_decoder_targets(sample, decoder,
                                     all_mask_preds[0].device)
            for sample in batch_data_samples
        ]
        sup_inds = [i for i, t in enumerate(targets) if t is not None]
        num_blocks = len(all_cls_scores)
        losses = dict()
        assignments: List[Optional[Tuple[Tensor, Tensor]]] = [None] * num_imgs

        if not sup_inds:
            # keep every output in the graph so DDP sees all parameters used
            zero = sum(c.sum() for c in all_cls_scores) * 0. + \
                sum(m.sum() for m in all_mask_preds) * 0.
            for i in range(num_blocks):
                # other ranks may supervise this decoder: join their
                # all-reduce of the mask count, contributing none
                reduce_mean(zero.detach().new_tensor(0.))
                prefix = self._loss_prefix(decoder, i, num_blocks)
                for key in ('loss_cls', 'loss_mask', 'loss_dice'):
                    losses[f'{prefix}{key}'] = zero
            if decoder in self.overlap_levels:
                reduce_mean(zero.detach().new_tensor(0.))
                losses[f'{decoder}.loss_overlap'] = zero
            return losses, assignments

        sup_targets = [targets[i] for i in sup_inds]
        index = torch.as_tensor(sup_inds, device=all_cls_scores[0].device)
        for i in range(num_blocks):
            loss_cls, loss_mask, loss_dice, matches = \
                self._loss_by_feat_single(
                    all_cls_scores[i].index_select(0, index),
                    all_mask_preds[i].index_select(0, index), sup_targets)
            prefix = self._loss_prefix(decoder, i, num_blocks)
            losses[f'{prefix}loss_cls'] = loss_cls
            losses[f'{prefix}loss_mask'] = loss_mask
            losses[f'{prefix}loss_dice'] = loss_dice
            if i == num_blocks - 1:
                for img_ind, match in zip(sup_inds, matches):
                    assignments[img_ind] = match
        if decoder in self.overlap_levels:
            losses[f'{decoder}.loss_overlap'] = self._loss_overlap_by_feat(
                all_mask_preds[-1], targets, assignments)
        return losses, assignments

    def _loss_overlap_by_feat(
            self, mask_preds: Tensor, targets: List[Optional[dict]],
            assignments: List[Optional[Tuple[Tensor, Tensor]]]) -> Tensor:
        """Overlap suppression loss of one decoder's last block.

        Args:
            mask_preds (Tensor): Mask logits of the last block, shape
                (B, Q, h, w).
            targets (list[dict | None]): Outputs of
                :meth:`get_decoder_targets`, one per image.
            assignments (list[tuple | None]): ``(query_inds, gt_inds)`` of
                the last block per image (None: not supervised).

        Returns:
            Tensor: The loss summed over the images, divided by the number
            of clusters of the exhaustively supervised images (averaged
            over ranks, at least 1).
        """
        items = []
        for i, (target, match) in enumerate(zip(targets, assignments)):
            if target is None or match is None or len(match[0]) == 0:
                continue
            if target['exhaustive'] and target['level'] != RELATION:
                items.append((i, target, match))
        # every rank joins this all-reduce, whatever its images are
        count = float(sum(len(query_inds) for _, _, (query_inds, _) in items))
        num_clusters = reduce_mean(mask_preds.new_tensor(count)).clamp(min=1)
        loss = mask_preds.sum() * 0.
        size = tuple(mask_preds.shape[-2:])
        for i, target, (query_inds, gt_inds) in items:
            with torch.no_grad():
                # the targets and the loss region on the prediction's grid,
                # sampled at its pixel centres
                low_res = F.interpolate(
                    torch.cat([target['masks'],
                               target['region'][None]]).unsqueeze(1).float(),
                    size=size,
                    mode='bilinear',
                    align_corners=False).squeeze(1) >= 0.5
                gt_masks, region = low_res[:-1], low_res[-1]
                # a pixel of an unmatched (or a second) target has no
                # cluster of its own: leave it out
                region &= gt_masks.sum(dim=0) <= 1
            loss = loss + self.loss_overlap(
                mask_preds[i, query_inds],
                gt_masks[gt_inds],
                region,
                avg_factor=num_clusters)
        return loss

    @staticmethod
    def _loss_prefix(decoder: str, block: int, num_blocks: int) -> str:
        """``'{decoder}.'`` for the last block, ``'{decoder}.d{i}.'`` for the
        others."""
        if block == num_blocks - 1:
            return f'{decoder}.'
        return f'{decoder}.d{block}.'

    def get_decoder_targets(self, data_sample, decoder: str,
                            device: torch.device) -> Optional[dict]:
        """Collect what one image asks of one decoder.

        Args:
            data_sample (:obj:`DetDataSample`): The sample.
            decoder (str): Decoder name.
            device (torch.device): Device of the predictions.

        Returns:
            dict or None: None when the sample does not supervise
            ``decoder``; else ``masks`` (bool Tensor (N, H, W)), ``region``
            (bool Tensor (H, W), where mask losses count), ``level`` (the
            supervised level), ``exhaustive`` (bool) and ``img_meta``
            (dict).
        """
        meta = data_sample.metainfo
        img_id = meta.get('img_id', meta.get('img_path', '?'))
        where = f'image {img_id}'
        task = parse_task(meta, self.decoder_names, require_supervision=True)
        sup = task.supervision.get(decoder)
        if sup is None:
            return None
        level = sup.level
        field = GT_FIELDS[level]
        if field not in data_sample:
            raise KeyError(f'{where}: decoder "{decoder}" is supervised by '
                           f'level "{level}" but the sample has no {field}')
        masks = self._masks_to_tensor(
            data_sample.get(field), device, f'{where}, {field}')
        shape = tuple(masks.shape[-2:])
        batch_shape = meta.get('batch_input_shape')
        if batch_shape is not None and tuple(batch_shape) != shape:
            raise ValueError(
                f'{where}: {field}.masks are {shape} but the batch input is '
                f'{tuple(batch_shape)}; masks must be padded to the batch '
                'shape (AIMSDataPreprocessor)')

        region = torch.ones(shape, dtype=torch.bool, device=device)
        # a roughened prompt's loss region replaces the prompt here
        region_maps = [
            LOSS_REGION_FIELD
            if LOSS_REGION_FIELD in data_sample else 'prompt_mask',
            'valid_region'
        ]
        if self.unannotated == 'background' and task.prompt_type == 'full':
            # the paper: unannotated pixels of a full image are background
            region_maps.remove('valid_region')
        for name in region_maps:
            if name not in data_sample:
                continue
            data = data_sample.get(name).data
            if tuple(data.shape[-2:]) != shape:
                raise ValueError(
                    f'{where}: {name} is {tuple(data.shape[-2:])} but '
                    f'{field}.masks are {shape}')
            region &= data.reshape(shape).to(device=device).bool()
        ignored_field = IGNORED_FIELDS[level]
        if ignored_field in data_sample:
            crowd = self._masks_to_tensor(
                data_sample.get(ignored_field), device,
                f'{where}, {ignored_field}')
            if len(crowd):
                if tuple(crowd.shape[-2:]) != shape:
                    raise ValueError(
                        f'{where}: {ignored_field}.masks are '
                        f'{tuple(crowd.shape[-2:])} but {field}.masks are '
                        f'{shape}')
                region &= ~crowd.any(dim=0)
        return dict(
            masks=masks,
            region=region,
            level=level,
            exhaustive=sup.exhaustive,
            img_meta=meta)

    @staticmethod
    def _masks_to_tensor(instances: InstanceData, device: torch.device,
                         where: str) -> Tensor:
        """``instances.masks`` (BitmapMasks or Tensor) as a bool Tensor."""
        if 'masks' not in instances:
            raise KeyError(f'{where} has no masks')
        masks = instances.masks
        if isinstance(masks, BitmapMasks):
            return masks.to_tensor(dtype=torch.bool, device=device)
        if isinstance(masks, Tensor) and masks.dim() == 3:
            return masks.to(device=device, dtype=torch.bool)
        raise TypeError(f'{where}.masks must be BitmapMasks or a (N, H, W) '
                        f'Tensor, got {type(masks).__name__}')

    def _get_targets_single(self, cls_score: Tensor, mask_pred: Tensor,
                            target: dict) -> Tuple:
        """Match the queries of one image to its targets.

        Args:
            cls_score (Tensor): Logits of one block, shape (Q, 2).
            mask_pred (Tensor): Mask logits of one block, shape (Q, h, w).
            target (dict): Output of :meth:`get_decoder_targets`.

        Returns:
            tuple: ``labels`` (Q, ), ``label_weights`` (Q, ),
            ``mask_targets`` (num_pos, H, W), ``mask_weights`` (Q, ),
            ``pos_inds``,
            ``pos_assigned_gt_inds`` and the sampler's ``avg_factor``
            (number of positives, at least 1).
        """
        gt_masks = target['masks']
        region = target['region']
        num_queries = cls_score.shape[0]
        num_gts = gt_masks.shape[0]
        # class-agnostic: every target is "object" (label 0)
        gt_labels = gt_masks.new_zeros((num_gts, ), dtype=torch.long)

        point_coords = torch.rand((1, self.num_points, 2),
                                  device=cls_score.device)
        # (Q, num_points)
        mask_points_pred = point_sample(
            mask_pred.unsqueeze(1), point_coords.repeat(num_queries, 1,
                                                        1)).squeeze(1)
        # (num_gts, num_points)
        gt_points_masks = point_sample(
            gt_masks.unsqueeze(1).float(), point_coords.repeat(num_gts, 1,
                                                               1)).squeeze(1)
        # match on points where the annotation is trusted only; if none of
        # them fell inside the region the masks carry no information and
        # all points are kept so that the mask costs stay finite
        in_region = point_sample(region[None, None].float(),
                                 point_coords).reshape(-1) >= 0.5
        if in_region.any() and not in_region.all():
            mask_points_pred = mask_points_pred[:, in_region]
            gt_points_masks = gt_points_masks[:, in_region]

        sampled_gt_instances = InstanceData(
            labels=gt_labels, masks=gt_points_masks)
        sampled_pred_instances = InstanceData(
            scores=cls_score, masks=mask_points_pred)
        assign_result = self.assigner.assign(
            pred_instances=sampled_pred_instances,
            gt_instances=sampled_gt_instances,
            img_meta=target['img_meta'])
        pred_instances = InstanceData(scores=cls_score, masks=mask_pred)
        gt_instances = InstanceData(labels=gt_labels, masks=gt_masks)
        sampling_result = self.sampler.sample(
            assign_result=assign_result,
            pred_instances=pred_instances,
            gt_instances=gt_instances)
        pos_inds = sampling_result.pos_inds
        pos_assigned_gt_inds = sampling_result.pos_assigned_gt_inds

        labels = gt_labels.new_full((num_queries, ), 1)  # 1 = no object
        labels[pos_inds] = gt_labels[pos_assigned_gt_inds]
        if target['exhaustive']:
            label_weights = gt_labels.new_ones((num_queries, ))
        else:
            # unannotated objects may hide behind unmatched queries
            label_weights = gt_labels.new_zeros((num_queries, ))
            label_weights[pos_inds] = 1
        mask_targets = gt_masks[pos_assigned_gt_inds]
        mask_weights = mask_pred.new_zeros((num_queries, ))
        mask_weights[pos_inds] = 1.0
        return (labels, label_weights, mask_targets, mask_weights, pos_inds,
                pos_assigned_gt_inds, sampling_result.avg_factor)

    def _loss_by_feat_single(self, cls_scores: Tensor, mask_preds: Tensor,
                             targets: List[dict]) -> Tuple:
        """Losses of one block of one decoder over the supervised images.

        Args:
            cls_scores (Tensor): Logits, shape (B', Q, 2).
            mask_preds (Tensor): Mask logits, shape (B', Q, h, w).
            targets (list[dict]): Outputs of :meth:`get_decoder_targets`,
                one per image.

        Returns:
            tuple: ``loss_cls``, ``loss_mask``, ``loss_dice`` (Tensors) and
            the list of ``(pos_inds, pos_assigned_gt_inds)`` per image.
        """
        per_image = [
            self._get_targets_single(cls_scores[i], mask_preds[i], target)
            for i, target in enumerate(targets)
        ]
        (labels_list, label_weights_list, mask_targets_list, mask_weights_list,
         pos_inds_list, gt_inds_list, avg_factors) = zip(*per_image)
        matches = list(zip(pos_inds_list, gt_inds_list))
        # (B', Q)
        labels = torch.stack(labels_list, dim=0)
        label_weights = torch.stack(label_weights_list, dim=0)
        mask_weights = torch.stack(mask_weights_list, dim=0)
        # (num_total_pos, H, W)
        mask_targets = torch.cat(mask_targets_list, dim=0)
        # image of each positive, to look up its loss region
        pos_img_inds = torch.cat([
            torch.full((len(pos), ), i, dtype=torch.long, device=pos.device)
            for i, pos in enumerate(pos_inds_list)
        ])

        cls_scores = cls_scores.flatten(0, 1)
        labels = labels.flatten(0, 1)
        label_weights = label_weights.flatten(0, 1)
        if self.class_weight is not None:
            class_weight = cls_scores.new_tensor(self.class_weight)
        else:
            class_weight = cls_scores.new_ones(cls_scores.shape[-1])
        loss_cls = self.loss_cls(
            cls_scores,
            labels,
            label_weights,
            avg_factor=(class_weight[labels] * label_weights).sum())

        # as mmdet: every image counts at least one mask
        num_total_masks = reduce_mean(
            cls_scores.new_tensor(float(sum(avg_factors)))).clamp(min=1)

        # (B', Q, h, w) -> (num_total_pos, h, w)
        mask_preds = mask_preds[mask_weights > 0]
        if mask_targets.shape[0] == 0:
            # zero match: empty sums keep the graph connected
            loss_dice = mask_preds.sum()
            loss_mask = mask_preds.sum()
            return loss_cls, loss_mask, loss_dice, matches

        with torch.no_grad():
            # (B', 1, H, W): one loss region per image
            regions = torch.stack([t['region'] for t in targets
                                   ]).unsqueeze(1).to(mask_preds.dtype)
            # pixels outside the region must not steer the importance
            # sampling either, so their logits are made maximally certain
            low_res_region = F.interpolate(
                regions, size=mask_preds.shape[-2:], mode='area') > 0
            certain_preds = torch.where(low_res_region[pos_img_inds],
                                        mask_preds.unsqueeze(1).detach(),
                                        mask_preds.new_tensor(FAR_LOGIT))
            points_coords = get_uncertain_point_coords_with_randomness(
                certain_preds, None, self.num_points, self.oversample_ratio,
                self.importance_sample_ratio)
            # (num_total_pos, num_points)
            mask_point_targets = point_sample(
                mask_targets.unsqueeze(1).float(), points_coords).squeeze(1)
            point_weights = mask_point_targets.new_zeros(
                mask_point_targets.shape)
            for i in range(len(targets)):
                in_img = pos_img_inds == i
                if in_img.any():
                    # all points of this image's positives in one call
                    point_weights[in_img] = point_sample(
                        regions[i:i + 1].float(),
                        points_coords[in_img].reshape(1, -1, 2)).reshape(
                            -1, self.num_points)
            point_weights = (point_weights >= 0.5).to(mask_preds.dtype)
            mask_point_targets = mask_point_targets * point_weights
        mask_point_preds = point_sample(
            mask_preds.unsqueeze(1), points_coords).squeeze(1)

        # points outside the region: sigmoid 0 and target 0 add nothing to
        # the dice sums
        dice_preds = torch.where(point_weights > 0, mask_point_preds,
                                 mask_point_preds.new_tensor(-FAR_LOGIT))
        loss_dice = self.loss_dice(
            dice_preds, mask_point_targets, avg_factor=num_total_masks)
        loss_mask = self.loss_mask(
            mask_point_preds.reshape(-1),
            mask_point_targets.reshape(-1),
            weight=point_weights.reshape(-1),
            avg_factor=num_total_masks * self.num_points)
        return loss_cls, loss_mask, loss_dice, matches
