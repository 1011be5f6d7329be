# Copyright (c) mmaims contributors. All rights reserved.
import copy
from dataclasses import dataclass, field
from typing import List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import Conv2d
from mmdet.models.layers import Mask2FormerTransformerDecoder
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule, ModuleList, caffe2_xavier_init
from torch import Tensor


class DecoderOutput(NamedTuple):
    """What one decoder of :class:`MultiLevelDecoderHead` returns.

    Attributes:
        cls_scores (list[Tensor]): Object / no-object logits (B, Q, 2) of
            the initial queries, then after every block.
        mask_preds (list[Tensor]): Mask logits (B, Q, H/4, W/4), same
            order.
        query_feats (Tensor): Post-normed embeddings after the last block
            (B, Q, C): ``E_T`` of eq. 8.
    """
    cls_scores: List[Tensor]
    mask_preds: List[Tensor]
    query_feats: Tensor


@dataclass
class DecoderState:
    """The running state of one decoder during a forward pass."""
    keys: List[Tensor]
    query: Tensor
    query_pos: Tensor
    attn_mask: Optional[Tensor] = None
    query_feats: Optional[Tensor] = None
    cls_scores: List[Tensor] = field(default_factory=list)
    mask_preds: List[Tensor] = field(default_factory=list)


def input_projections(num_levels: int, in_channels: int, out_channels: int,
                      project: bool) -> ModuleList:
    """One 1x1 convolution per feature level (``project``) or identities,
    as mmdet's ``Mask2FormerHead.decoder_input_projs``."""
    projs = ModuleList()
    for _ in range(num_levels):
        projs.append(
            Conv2d(in_channels, out_channels, kernel_size=1
                   ) if project else nn.Identity())
    return projs


def prediction_embeds(feat_channels: int,
                      out_channels: int) -> Tuple[nn.Module, nn.Module]:
    """``cls_embed`` (two logits: object / no object, one class-agnostic
    class) and ``mask_embed`` (Mask2Former's three-layer MLP)."""
    cls_embed = nn.Linear(feat_channels, 2)
    mask_embed = nn.Sequential(
        nn.Linear(feat_channels, feat_channels), nn.ReLU(inplace=True),
        nn.Linear(feat_channels, feat_channels), nn.ReLU(inplace=True),
        nn.Linear(feat_channels, out_channels))
    return cls_embed, mask_embed


class LevelDecoder(BaseModule):
    """One AIMS decoder Phi_T (paper eq. 2-3, 7): a Mask2Former transformer
    decoder with its queries and prediction heads, run step by step.

    The sub-module names are those of mmdet's ``Mask2FormerHead``
    (``transformer_decoder``, ``query_feat``, ``query_embed``,
    ``level_embed``, ``decoder_input_projs``, ``cls_embed``, ``mask_embed``)
    so that a Mask2Former checkpoint maps onto it by a prefix change. A
    block ``i`` of eq. 2 is split into the steps that
    :class:`~mmaims.models.dense_heads.MultiLevelDecoderHead` interleaves
    with the task complementarity module (eq. 5-6) of the other decoders:

    - :meth:`start`: keys of the image features and the initial queries,
      with the prediction of the initial queries;
    - :meth:`attend`: masked cross-attention and self-attention
      (``R_SAAtt(R_XAtt(E, F))`` of eq. 2);
    - :meth:`feed_forward`: the block's FFN (``R_ff`` of eq. 2 / eq. 7);
    - :meth:`predict`: part-/entity-/relation-ness and masks (eq. 3), and
      the attention mask of the next block;
    - :meth:`output`: the :class:`DecoderOutput` of the whole pass.

    Without the TCM in between, ``start`` + (``attend``, ``feed_forward``,
    ``predict``) per block computes exactly what mmdet's
    ``Mask2FormerHead`` computes.

    Args:
        feat_channels (int): Channels of the image features and queries.
        out_channels (int): Channels of the mask features.
        num_queries (int): Number of learnable queries.
        num_transformer_feat_level (int): Number of feature levels the
            decoder attends to.
        transformer_decoder (:obj:`ConfigDict` or dict): Config of mmdet's
            ``Mask2FormerTransformerDecoder``.
        enforce_decoder_input_project (bool): Project the features with a
            1x1 conv even when the channels already match.
        init_cfg (:obj:`ConfigDict` or dict, optional): Initialization
            config. Defaults to None.
    """

    def __init__(self,
                 feat_channels: int,
                 out_channels: int,
                 num_queries: int,
                 num_transformer_feat_level: int,
                 transformer_decoder: ConfigType,
                 enforce_decoder_input_project: bool = False,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_queries = num_queries
        self.transformer_decoder = Mask2FormerTransformerDecoder(
            **copy.deepcopy(transformer_decoder))
        self.decoder_embed_dims = self.transformer_decoder.embed_dims
        self.num_heads = self.transformer_decoder.layers[0].cross_attn.\
            num_heads
        # from low resolution to high resolution
        self.decoder_input_projs = input_projections(
            num_transformer_feat_level, feat_channels, self.decoder_embed_dims,
            enforce_decoder_input_project
            or self.decoder_embed_dims != feat_channels)
        self.query_embed = nn.Embedding(num_queries, feat_channels)
        self.query_feat = nn.Embedding(num_queries, feat_channels)
        self.level_embed = nn.Embedding(num_transformer_feat_level,
                                        feat_channels)
        self.cls_embed, self.mask_embed = prediction_embeds(
            feat_channels, out_channels)

    def init_weights(self) -> None:
        """Initialise as mmdet's ``Mask2FormerHead.init_weights``."""
        for m in self.decoder_input_projs:
            if isinstance(m, Conv2d):
                caffe2_xavier_init(m, bias=0)
        for p in self.transformer_decoder.parameters():
            if p.dim() > 1:
                nn.init.xavier_normal_(p)

    def forward_head(
        self, decoder_out: Tensor, mask_features: Tensor,
        attn_mask_target_size: Tuple[int, int]
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Prediction heads, as ``Mask2FormerHead._forward_head``.

        Args:
            decoder_out (Tensor): Query embeddings, shape (B, Q, C).
            mask_features (Tensor): Mask features, shape (B, C_out, H, W).
            attn_mask_target_size (tuple[int, int]): (h, w) of the feature
                level the next block attends to.

        Returns:
            tuple[Tensor]: ``cls_pred`` (B, Q, 2), ``mask_pred``
            (B, Q, H, W), ``attn_mask`` bool (B * num_heads, Q, h * w), True
            where attention is NOT allowed, and the post-normed embeddings
            (B, Q, C).
        """
        decoder_out = self.transformer_decoder.post_norm(decoder_out)
        cls_pred = self.cls_embed(decoder_out)
        mask_embed = self.mask_embed(decoder_out)
        mask_pred = torch.einsum('bqc,bchw->bqhw', mask_embed, mask_features)
        attn_mask = F.interpolate(
            mask_pred,
            attn_mask_target_size,
            mode='bilinear',
            align_corners=False)
        # (B, Q, h, w) -> (B * num_heads, Q, h * w)
        attn_mask = attn_mask.flatten(2).unsqueeze(1).repeat(
            (1, self.num_heads, 1, 1)).flatten(0, 1)
        attn_mask = attn_mask.sigmoid() < 0.5
        attn_mask = attn_mask.detach()
        return cls_pred, mask_pred, attn_mask, decoder_out

    def start(self,
              mask_features: Tensor,
              multi_scale_memorys: Sequence[Tensor],
              lean_features: Optional[Tensor] = None) -> DecoderState:
        """Project the image features into keys and predict with the
        initial queries.

        Args:
            mask_features (Tensor): (B, C_out, H/4, W/4).
            multi_scale_memorys (Sequence[Tensor]): Low to high resolution,
                each (B, C, h_i, w_i).
            lean_features (Tensor, optional): Mask features resized to the
                first block's feature size: compute only the attention mask
                (:meth:`predict_attn_mask`). Defaults to None (the full
                prediction).

        Returns:
            DecoderState: The state before the first block.
        """
        batch_size = mask_features.shape[0]
        keys = []
        for i, memory in enumerate(multi_scale_memorys):
            # (B, C, h, w) -> (B, h*w, C)
            key = self.decoder_input_projs[i](memory).flatten(2).permute(
                0, 2, 1)
            keys.append(key + self.level_embed.weight[i].view(1, 1, -1))
        query = self.query_feat.weight.unsqueeze(0).repeat((batch_size, 1, 1))
        query_pos = self.query_embed.weight.unsqueeze(0).repeat(
            (batch_size, 1, 1))
        state = DecoderState(keys=keys, query=query, query_pos=query_pos)
        if lean_features is None:
            self.predict(state, mask_features,
                         multi_scale_memorys[0].shape[-2:])
        else:
            self.predict_attn_mask(state, lean_features)
        return state

    def attend(self, state: DecoderState, block: int, key_pos: Tensor,
               level: int) -> None:
        """Masked cross-attention to feature level ``level`` and
        self-attention of block ``block`` (eq. 2), in place.

        Args:
            state (DecoderState): Updated: ``query``.
            block (int): Block index.
            key_pos (Tensor): Positional encoding of the keys, (B, h*w, C).
            level (int): Index of the feature level attended to.
        """
        layer = self.transformer_decoder.layers[block]
        attn_mask = state.attn_mask
        # a query whose mask is empty at this level attends everywhere (as
        # Mask2Former)
        mask_sum = (attn_mask.sum(-1) != attn_mask.shape[-1]).unsqueeze(-1)
        attn_mask = attn_mask & mask_sum
        query = layer.cross_attn(
            query=state.query,
            key=state.keys[level],
            value=state.keys[level],
            query_pos=state.query_pos,
            key_pos=key_pos,
            attn_mask=attn_mask,
            key_padding_mask=None)
        query = layer.norms[0](query)
        query = layer.self_attn(
            query=query,
            key=query,
            value=query,
            query_pos=state.query_pos,
            key_pos=state.query_pos,
            attn_mask=None)
        state.query = layer.norms[1](query)

    def feed_forward(self, state: DecoderState, block: int) -> None:
        """The FFN of block ``block`` (eq. 7, ``R_ff``), in place."""
        layer = self.transformer_decoder.layers[block]
        state.query = layer.norms[2](layer.ffn(state.query))

    def predict(self, state: DecoderState, mask_features: Tensor,
                next_size: Tuple[int, int]) -> None:
        """Predict from the current queries (eq. 3) and set the attention
        mask of the next block, in place.

        Args:
            state (DecoderState): Updated: ``cls_scores``, ``mask_preds``,
                ``attn_mask``, ``query_feats``.
            mask_features (Tensor): (B, C_out, H/4, W/4).
            next_size (tuple[int, int]): (h, w) of the feature level the
                next block attends to.
        """
        cls_pred, mask_pred, state.attn_mask, state.query_feats = \
            self.forward_head(state.query, mask_features, next_size)
        state.cls_scores.append(cls_pred)
        state.mask_preds.append(mask_pred)

    def predict_attn_mask(self, state: DecoderState,
                          next_features: Tensor) -> None:
        """Only the attention mask of the next block, from mask features
        already resized to that block's feature size (lean inference).

        Bilinear resizing is linear, so the mask logits of the queries on
        resized mask features are the resized mask logits that
        :meth:`predict` computes at 1/4 resolution: the same attention mask
        (to float rounding) without the full-resolution masks and the class
        logits, which only the last block's prediction needs at inference.

        Args:
            state (DecoderState): Updated: ``attn_mask``.
            next_features (Tensor): Mask features resized to the next
                block's feature size, (B, C_out, h, w).
        """
        decoder_out = self.transformer_decoder.post_norm(state.query)
        mask_embed = self.mask_embed(decoder_out)
        logits = torch.einsum('bqc,bchw->bqhw', mask_embed, next_features)
        # (B, Q, h, w) -> (B * num_heads, Q, h * w); sigmoid < 0.5 is < 0
        state.attn_mask = (logits.flatten(2) < 0).unsqueeze(1).repeat(
            (1, self.num_heads, 1, 1)).flatten(0, 1).detach()

    @staticmethod
    def output(state: DecoderState) -> DecoderOutput:
        """The :class:`DecoderOutput` of a finished pass."""
        return DecoderOutput(state.cls_scores, state.mask_preds,
                             state.query_feats)
