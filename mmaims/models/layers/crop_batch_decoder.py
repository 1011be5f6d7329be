# Copyright (c) mmaims contributors. All rights reserved.
import copy
from typing import List, NamedTuple, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.layers import (Mask2FormerTransformerDecoder,
                                 SinePositionalEncoding3D)
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from mmaims.registry import MODELS
from .level_decoder import LevelDecoder, input_projections, prediction_embeds


class BatchDecoderOutput(NamedTuple):
    """What :class:`CropBatchDecoder` returns.

    Attributes:
        cls_scores (list[Tensor]): Batch-level entity / no-entity logits
            ``U_b^e`` (B, N, 2) of the batch queries, then after every
            block.
        mask_preds (list[Tensor]): Batch-level mask logits ``U_b^m``
            (B, N, V, H, W), same order: query ``n`` segments one entity in
            every view ``v``.
        query_feats (Tensor): Post-normed batch embeddings ``E_b`` after
            the last block, (B, N, C).
    """
    cls_scores: List[Tensor]
    mask_preds: List[Tensor]
    query_feats: Tensor


@MODELS.register_module()
class CropBatchDecoder(BaseModule):
    """CropFormer's batch decoder ``Phi_b`` and its prediction head
    (paper 003, Sec. 4.2, eq. 5-6).

    The full view and its crop views are decoded as the frames of one
    video, as video-level Mask2Former does: the decoder starts from the
    batch queries ``Q_b`` of :class:`CropQueryAssociation` (instead of
    learnable query features), and each block's masked cross-attention
    attends to the keys of all V views of a sample at once (the views'
    tokens concatenated, with a 3D sine position encoding whose third axis
    is the view). The blocks are mmdet's ``Mask2FormerTransformerDecoder``
    layers (cross-attention, self-attention, FFN). One embedding per query
    is shared by the views: its mask in view ``v`` is the dot product of the
    query's mask embedding with view ``v``'s mask features, and each query
    has one entityness logit pair for all views.

    The sub-module names follow :class:`LevelDecoder` (and mmdet's
    ``Mask2FormerHead``), except that there is no ``query_feat``: the query
    features are ``Q_b``.

    Args:
        feat_channels (int): Channels of the image features and queries.
        out_channels (int): Channels of the mask features.
        num_queries (int): Number of batch queries N (the image decoder's
            number of queries).
        num_transformer_feat_level (int): Number of feature levels the
            decoder attends to (round robin, low to high resolution).
        transformer_decoder (:obj:`ConfigDict` or dict): Config of mmdet's
            ``Mask2FormerTransformerDecoder``.
        enforce_decoder_input_project (bool): Project the features with a
            1x1 conv even when the channels already match. Defaults to
            False.
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
        self.num_transformer_feat_level = num_transformer_feat_level
        self.transformer_decoder = Mask2FormerTransformerDecoder(
            **copy.deepcopy(transformer_decoder))
        self.decoder_embed_dims = self.transformer_decoder.embed_dims
        if self.decoder_embed_dims != feat_channels:
            raise ValueError(
                f'CropBatchDecoder: the transformer decoder has '
                f'{self.decoder_embed_dims} channels but feat_channels is '
                f'{feat_channels}; the batch queries have feat_channels')
        self.num_heads = self.transformer_decoder.layers[0].cross_attn.\
            num_heads
        self.decoder_input_projs = input_projections(
            num_transformer_feat_level, feat_channels, self.decoder_embed_dims,
            enforce_decoder_input_project)
        if feat_channels % 2:
            raise ValueError('CropBatchDecoder: feat_channels must be even '
                             f'for the sine position encoding, got '
                             f'{feat_channels}')
        self.decoder_positional_encoding = SinePositionalEncoding3D(
            num_feats=feat_channels // 2, normalize=True)
        self.query_embed = nn.Embedding(num_queries, feat_channels)
        self.level_embed = nn.Embedding(num_transformer_feat_level,
                                        feat_channels)
        self.cls_embed, self.mask_embed = prediction_embeds(
            feat_channels, out_channels)

    # same sub-module names, same initialisation (mmdet's Mask2FormerHead)
    init_weights = LevelDecoder.init_weights

    def forward_head(
        self, decoder_out: Tensor, mask_features: Tensor,
        attn_mask_target_size: Tuple[int, int]
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """The batch-level prediction head (eq. 6).

        Args:
            decoder_out (Tensor): Query embeddings, (B, N, C).
            mask_features (Tensor): Mask features of every view,
                (B, V, C_out, H, W).
            attn_mask_target_size (tuple[int, int]): (h, w) of the feature
                level the next block attends to.

        Returns:
            tuple[Tensor]: ``cls_pred`` (B, N, 2), ``mask_pred``
            (B, N, V, H, W), ``attn_mask`` bool (B * num_heads, N,
            V * h * w), True where attention is NOT allowed, and the
            post-normed embeddings (B, N, C).
        """
        decoder_out = self.transformer_decoder.post_norm(decoder_out)
        cls_pred = self.cls_embed(decoder_out)
        mask_embed = self.mask_embed(decoder_out)
        mask_pred = torch.einsum('bnc,bvchw->bnvhw', mask_embed, mask_features)
        batch, num, views = mask_pred.shape[:3]
        attn_mask = F.interpolate(
            mask_pred.flatten(0, 1),
            attn_mask_target_size,
            mode='bilinear',
            align_corners=False)
        # (B, N, V, h, w) -> (B * num_heads, N, V * h * w)
        attn_mask = attn_mask.view(batch, num, -1).unsqueeze(1).repeat(
            (1, self.num_heads, 1, 1)).flatten(0, 1)
        attn_mask = (attn_mask.sigmoid() < 0.5).detach()
        return cls_pred, mask_pred, attn_mask, decoder_out

    def _check_inputs(self, query: Tensor, mask_features: Tensor,
                      multi_scale_memorys: Sequence[Tensor]) -> None:
        if query.dim() != 3 or query.shape[1] != self.num_queries:
            raise ValueError(f'CropBatchDecoder: query must be (B, '
                             f'{self.num_queries}, C), got '
                             f'{tuple(query.shape)}')
        if mask_features.dim() != 5:
            raise ValueError('CropBatchDecoder: mask_features must be '
                             '(B, V, C_out, H, W), got '
                             f'{tuple(mask_features.shape)}')
        if len(multi_scale_memorys) != self.num_transformer_feat_level:
            raise ValueError(
                f'CropBatchDecoder: {len(multi_scale_memorys)} feature '
                f'levels given, {self.num_transformer_feat_level} expected')
        for i, memory in enumerate(multi_scale_memorys):
            if memory.dim() != 5 or memory.shape[:2] != \
                    mask_features.shape[:2]:
                raise ValueError(
                    f'CropBatchDecoder: multi_scale_memorys[{i}] must be '
                    f'(B, V, C, h, w) with (B, V) = '
                    f'{tuple(mask_features.shape[:2])}, got '
                    f'{tuple(memory.shape)}')

    def forward(self, query: Tensor, mask_features: Tensor,
                multi_scale_memorys: Sequence[Tensor]) -> BatchDecoderOutput:
        """Decode the batch queries on all views (eq. 5-6).

        Args:
            query (Tensor): The batch queries ``Q_b``, (B, N, C).
            mask_features (Tensor): Per-pixel mask features of every view
                (view 0 the full image, then the crops),
                (B, V, C_out, H, W).
            multi_scale_memorys (Sequence[Tensor]): The pixel decoder's
                multi-scale features of every view, low to high
                resolution, each (B, V, C, h_i, w_i).

        Returns:
            BatchDecoderOutput: The batch-level predictions of the batch
            queries and after every block.
        """
        self._check_inputs(query, mask_features, multi_scale_memorys)
        batch, views = mask_features.shape[:2]
        keys, key_pos, sizes = [], [], []
        for i, memory in enumerate(multi_scale_memorys):
            h, w = memory.shape[-2:]
            sizes.append((h, w))
            key = self.decoder_input_projs[i](memory.flatten(0, 1))
            # (B * V, C, h, w) -> (B, V * h * w, C)
            key = key.view(batch, views, -1, h * w).permute(0, 1, 3,
                                                            2).flatten(1, 2)
            keys.append(key + self.level_embed.weight[i].view(1, 1, -1))
            no_mask = memory.new_zeros((batch, views, h, w), dtype=torch.bool)
            # (B, V, C, h, w) -> (B, V * h * w, C)
            pos = self.decoder_positional_encoding(no_mask)
            key_pos.append(pos.flatten(3).permute(0, 1, 3, 2).flatten(1, 2))
        query_pos = self.query_embed.weight.unsqueeze(0).repeat((batch, 1, 1))
        cls_pred, mask_pred, attn_mask, query_feats = self.forward_head(
            query, mask_features, sizes[0])
        cls_scores, mask_preds = [cls_pred], [mask_pred]
        num_levels = self.num_transformer_feat_level
        for block, layer in enumerate(self.transformer_decoder.layers):
            level = block % num_levels
            # a query whose mask is empty in every view attends everywhere
            attn_mask = attn_mask & (attn_mask.sum(-1)
                                     != attn_mask.shape[-1]).unsqueeze(-1)
            query = layer(
                query=query,
                key=keys[level],
                value=keys[level],
                query_pos=query_pos,
                key_pos=key_pos[level],
                cross_attn_mask=attn_mask,
                query_key_padding_mask=None,
                key_padding_mask=None)
            cls_pred, mask_pred, attn_mask, query_feats = self.forward_head(
                query, mask_features, sizes[(block + 1) % num_levels])
            cls_scores.append(cls_pred)
            mask_preds.append(mask_pred)
        return BatchDecoderOutput(cls_scores, mask_preds, query_feats)
