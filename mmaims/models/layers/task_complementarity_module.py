# Copyright (c) mmaims contributors. All rights reserved.
import copy
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import FFN, MultiheadAttention
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from mmaims.registry import MODELS


@MODELS.register_module()
class TaskComplementarityModule(BaseModule):
    """Task complementarity module (TCM) of AIMS, eq. 5-7 of the paper.

    It exchanges information between the query embeddings of two decoders of
    adjacent levels (entity-part, relation-entity) inside one attention
    block, right after the decoders' self-attention:

    .. code-block:: none

        x = concat(E_a, E_b)          # along the query dimension
        x = norm_sa(SelfAttn(x))      # G_SAAtt (``with_self_attn``)
        x = norm_ffn(FFN(x))          # G_ff    (``with_ffn``)
        E_a', E_b' = split(x)         # eq. 5
        E_a'' = E_a' + E_a            # eq. 6   (``with_add``)
        E_b'' = E_b' + E_b

    Each decoder then applies its own FFN to ``E''`` (eq. 7); that part lives
    in :class:`MultiLevelDecoderHead`. The attention and FFN are mmcv's
    ``MultiheadAttention`` and ``FFN``, each followed by a LayerNorm, but
    **without their own residual connections**: the ADD of eq. 6 is the
    only path by which the original embeddings pass the module, so each of
    the three switches removes exactly its term of eq. 5-6 (the rows of
    Table 4b of the paper). With ``with_add=False`` the output is
    ``G_ff(G_SA(E))`` and nothing of ``E`` bypasses them. A module with
    neither self-attention nor FFN would only copy (or double) its inputs,
    so it is refused: switch the whole module off in the head
    (``tcm=None``) instead.

    Args:
        embed_dims (int): Channels of the query embeddings. Defaults to 256.
        self_attn_cfg (:obj:`ConfigDict` or dict): Config of the
            self-attention, without ``embed_dims`` (taken from
            ``embed_dims``). Defaults to 8 heads, no dropout.
        ffn_cfg (:obj:`ConfigDict` or dict): Config of the FFN, without
            ``embed_dims``. Defaults to 2048 hidden channels, ReLU, no
            dropout, as in Mask2Former's decoder.
        norm_cfg (:obj:`ConfigDict` or dict): Config of the norm layers.
            Defaults to ``dict(type='LN')``.
        with_self_attn (bool): Apply the self-attention on the concatenated
            embeddings (Table 4b 'SA'). Defaults to True.
        with_ffn (bool): Apply the FFN on the concatenated embeddings
            (Table 4b 'FF'). Defaults to True.
        with_add (bool): Add the original embeddings to the fused ones,
            eq. 6 (Table 4b 'ADD'). Defaults to True.
        init_cfg (:obj:`ConfigDict` or dict, optional): Initialization
            config. Defaults to None.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 self_attn_cfg: ConfigType = dict(
                     num_heads=8, attn_drop=0.0, proj_drop=0.0),
                 ffn_cfg: ConfigType = dict(
                     feedforward_channels=2048,
                     num_fcs=2,
                     ffn_drop=0.0,
                     act_cfg=dict(type='ReLU', inplace=True)),
                 norm_cfg: ConfigType = dict(type='LN'),
                 with_self_attn: bool = True,
                 with_ffn: bool = True,
                 with_add: bool = True,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not (with_self_attn or with_ffn):
            raise ValueError(
                'TaskComplementarityModule needs with_self_attn or with_ffn; '
                'to switch the module off set tcm=None in the head')
        self.embed_dims = embed_dims
        self.with_self_attn = with_self_attn
        self.with_ffn = with_ffn
        self.with_add = with_add
        if with_self_attn:
            attn_cfg = self._with_embed_dims(self_attn_cfg, 'self_attn_cfg')
            # The decoders' queries are (batch, query, channel).
            if not attn_cfg.setdefault('batch_first', True):
                raise ValueError('TaskComplementarityModule works on '
                                 '(batch, query, channel) embeddings: '
                                 'self_attn_cfg.batch_first must be True')
            self.self_attn = MultiheadAttention(**attn_cfg)
            self.self_attn_norm = build_norm_layer(norm_cfg, embed_dims)[1]
        if with_ffn:
            ffn_cfg = self._with_embed_dims(ffn_cfg, 'ffn_cfg')
            if ffn_cfg.setdefault('add_identity', False):
                raise ValueError('TaskComplementarityModule: the FFN (G_ff) '
                                 'has no residual of its own; the identity '
                                 'path is with_add (eq. 6)')
            self.ffn = FFN(**ffn_cfg)
            self.ffn_norm = build_norm_layer(norm_cfg, embed_dims)[1]

    def _with_embed_dims(self, cfg: ConfigType, name: str) -> dict:
        """Copy ``cfg`` and fill in ``embed_dims``, refusing a mismatch."""
        cfg = copy.deepcopy(dict(cfg))
        if cfg.setdefault('embed_dims', self.embed_dims) != self.embed_dims:
            raise ValueError(f'TaskComplementarityModule: {name}.embed_dims '
                             f'({cfg["embed_dims"]}) differs from embed_dims '
                             f'({self.embed_dims})')
        return cfg

    def init_weights(self) -> None:
        """Xavier-initialise the weight matrices, as mmdet's Mask2Former
        initialises its transformer decoder."""
        super().init_weights()
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_normal_(p)

    def forward(self,
                query_a: Tensor,
                query_b: Tensor,
                query_pos_a: Optional[Tensor] = None,
                query_pos_b: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Fuse the query embeddings of two decoders.

        Args:
            query_a (Tensor): Embeddings of the first decoder after its
                self-attention, shape (B, Q_a, C).
            query_b (Tensor): Embeddings of the second decoder, shape
                (B, Q_b, C).
            query_pos_a (Tensor, optional): Positional (learnable query)
                embeddings of the first decoder, added to queries and keys of
                the self-attention as in the decoders' own self-attention,
                shape (B, Q_a, C). Defaults to None.
            query_pos_b (Tensor, optional): Same for the second decoder,
                shape (B, Q_b, C). Given both or neither. Defaults to None.

        Returns:
            tuple[Tensor, Tensor]: The fused embeddings ``E_a''`` (B, Q_a, C)
            and ``E_b''`` (B, Q_b, C).
        """
        if query_a.dim() != 3 or query_b.dim() != 3 or \
                query_a.shape[0] != query_b.shape[0] or \
                query_a.shape[2] != self.embed_dims or \
                query_b.shape[2] != self.embed_dims:
            raise ValueError(
                'TaskComplementarityModule expects two (B, Q, '
                f'{self.embed_dims}) tensors with the same B, got '
                f'{tuple(query_a.shape)} and {tuple(query_b.shape)}')
        if (query_pos_a is None) != (query_pos_b is None):
            raise ValueError('TaskComplementarityModule: give query_pos_a '
                             'and query_pos_b together, or neither')
        num_a = query_a.shape[1]
        fused = torch.cat([query_a, query_b], dim=1)
        if self.with_self_attn:
            query_pos = None
            if query_pos_a is not None:
                query_pos = torch.cat([query_pos_a, query_pos_b], dim=1)
            # mmcv's attention adds ``identity`` (default: its query) to its
            # output; G_SA has no residual of its own (eq. 5), so it is 0
            fused = self.self_attn(
                query=fused,
                key=fused,
                value=fused,
                identity=fused.new_zeros(()),
                query_pos=query_pos,
                key_pos=query_pos)
            fused = self.self_attn_norm(fused)
        if self.with_ffn:
            # built with add_identity=False: G_ff(x) = norm(FFN(x))
            fused = self.ffn_norm(self.ffn(fused))
        fused_a, fused_b = fused[:, :num_a], fused[:, num_a:]
        if self.with_add:
            fused_a = fused_a + query_a
            fused_b = fused_b + query_b
        return fused_a, fused_b
