# Copyright (c) mmaims contributors. All rights reserved.
import copy
from typing import Optional

import torch
import torch.nn as nn
from mmcv.cnn.bricks.transformer import FFN, MultiheadAttention
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from mmaims.registry import MODELS


@MODELS.register_module()
class CropQueryAssociation(BaseModule):
    """CropFormer's association module (paper 003, Sec. 4.2, eq. 4).

    Turns the image-level query embeddings of the full view and of its crop
    views into the batch queries ``Q_b`` that the batch decoder shares
    between all views::

        Q_b = FFN(SAtt(XAtt(q = E_full, k = v = [E_full; E_crop_1; ...])))

    The full view's embeddings are the query of the cross-attention (the
    full image matters most to entity segmentation); the embeddings of all
    views, concatenated along the token axis, are its key and value. The
    linear maps ``f_q``, ``f_k``, ``f_v`` of eq. 4 are the input
    projections of mmcv's ``MultiheadAttention``. Each of the three steps is
    a post-norm residual block (attention or FFN, then ``LayerNorm``), as in
    mmdet's Mask2Former decoder layer. The self-attention and the FFN can
    be switched off (``self_attn_cfg=None`` / ``ffn_cfg=None``), the
    ablation of paper Table 9c.

    This is not AIMS's :class:`~mmaims.models.AssociationHead`, which links
    entities to parts and relations.

    Args:
        embed_dims (int): Channels of the query embeddings.
        cross_attn_cfg (:obj:`ConfigDict` or dict): Config of the
            cross-attention (mmcv ``MultiheadAttention`` without
            ``embed_dims``; ``batch_first`` is forced to True). Defaults to
            8 heads, no dropout.
        self_attn_cfg (:obj:`ConfigDict` or dict, optional): Config of the
            self-attention, or None to leave it out. Defaults to 8 heads,
            no dropout.
        ffn_cfg (:obj:`ConfigDict` or dict, optional): Config of mmcv's
            ``FFN`` without ``embed_dims``, or None to leave it out.
            Defaults to 2048 hidden channels, 2 layers, ReLU.
        init_cfg (:obj:`ConfigDict` or dict, optional): Initialization
            config. Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 cross_attn_cfg: ConfigType = dict(num_heads=8, dropout=0.0),
                 self_attn_cfg: OptConfigType = dict(num_heads=8, dropout=0.0),
                 ffn_cfg: OptConfigType = dict(
                     feedforward_channels=2048,
                     num_fcs=2,
                     ffn_drop=0.0,
                     act_cfg=dict(type='ReLU', inplace=True)),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if cross_attn_cfg is None:
            raise ValueError('CropQueryAssociation: the cross-attention of '
                             'eq. 4 cannot be switched off')
        self.embed_dims = embed_dims
        self.cross_attn = MultiheadAttention(
            **self._attn_cfg(embed_dims, cross_attn_cfg))
        self.cross_norm = nn.LayerNorm(embed_dims)
        self.self_attn: Optional[MultiheadAttention] = None
        self.self_norm: Optional[nn.LayerNorm] = None
        if self_attn_cfg is not None:
            self.self_attn = MultiheadAttention(
                **self._attn_cfg(embed_dims, self_attn_cfg))
            self.self_norm = nn.LayerNorm(embed_dims)
        self.ffn: Optional[FFN] = None
        self.ffn_norm: Optional[nn.LayerNorm] = None
        if ffn_cfg is not None:
            ffn_cfg = copy.deepcopy(dict(ffn_cfg))
            ffn_cfg['embed_dims'] = embed_dims
            self.ffn = FFN(**ffn_cfg)
            self.ffn_norm = nn.LayerNorm(embed_dims)

    @staticmethod
    def _attn_cfg(embed_dims: int, cfg: ConfigType) -> dict:
        cfg = copy.deepcopy(dict(cfg))
        cfg['embed_dims'] = embed_dims
        cfg['batch_first'] = True
        return cfg

    def init_weights(self) -> None:
        """Xavier-initialise the projections, as mmdet does for the
        Mask2Former transformer decoder."""
        super().init_weights()
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_normal_(p)

    def forward(self, full_embeds: Tensor, crop_embeds: Tensor) -> Tensor:
        """Compute the batch queries ``Q_b``.

        Args:
            full_embeds (Tensor): Image-level query embeddings of the full
                view ``E_{I^o}``, (B, N, C).
            crop_embeds (Tensor): Image-level query embeddings of the crop
                views, (B, N, C) for one crop or (B, K, N, C) for K crops.

        Returns:
            Tensor: The batch queries, (B, N, C): one per full-view query.
        """
        if full_embeds.dim() != 3:
            raise ValueError('CropQueryAssociation: full_embeds must be '
                             f'(B, N, C), got {tuple(full_embeds.shape)}')
        if crop_embeds.dim() == 3:
            crop_embeds = crop_embeds.unsqueeze(1)
        batch, _, channels = full_embeds.shape
        if (crop_embeds.dim() != 4 or crop_embeds.shape[0] != batch
                or crop_embeds.shape[-1] != channels):
            raise ValueError('CropQueryAssociation: crop_embeds must be '
                             f'(B, N, C) or (B, K, N, C) with B = {batch} '
                             f'and C = {channels}, got '
                             f'{tuple(crop_embeds.shape)}')
        # key / value: E_i, the embeddings of every view, (B, (1+K)*N, C)
        memory = torch.cat([full_embeds, crop_embeds.flatten(1, 2)], dim=1)
        # mmcv's MultiheadAttention adds the residual (identity = query)
        query = self.cross_norm(
            self.cross_attn(query=full_embeds, key=memory, value=memory))
        if self.self_attn is not None:
            query = self.self_norm(
                self.self_attn(query=query, key=query, value=query))
        if self.ffn is not None:
            query = self.ffn_norm(self.ffn(query))
        return query
