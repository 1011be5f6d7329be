# Copyright (c) mmaims contributors. All rights reserved.
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.utils import OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from mmaims.registry import MODELS


@MODELS.register_module()
class MaskPromptEncoder(BaseModule):
    """Mask prompt encoder (MPE) of AIMS, eq. 10-11 of the paper.

    The binary prompt :math:`M_P` (``B x 1 x H x W``, the padded batch input
    size) goes through ``num_conv2_blocks`` blocks ``CONV2 + LN + GELU``
    (kernel 2, stride 2) and ``num_conv1`` plain ``CONV1`` layers (kernel 1,
    stride 1), giving :math:`M_2` with ``out_channels`` channels at 1/4 of
    the input for the default two blocks. :math:`M_2` is then resized
    bilinearly to every requested feature size (1/8, 1/16, 1/32 of the input
    for the pixel decoder's memories), giving :math:`M_3, M_4, M_5`. The
    detector adds them to the pixel-decoder features (eq. 11).

    Table 4a of the paper as configs:

    - ``(CONV2B x 2) + (CONV1)``: ``num_conv2_blocks=2, num_conv1=1``
      (default, the paper's choice);
    - ``(CONV2B x 2) + (CONV1 x 2)``: ``num_conv2_blocks=2, num_conv1=2``;
    - ``(CONV2B x 2)``: ``num_conv2_blocks=2, num_conv1=0`` (the last
      ``CONV2`` block then outputs ``out_channels``).

    LN normalises over the channel dimension at every pixel (the
    ``LayerNorm2d`` of SAM's mask encoder).

    **Rough-prompt flag** (``rough_flag=True``; not part of the paper): a
    learned vector (zero at initialisation) is added to :math:`M_2` of the
    prompts marked rough (drawn by a person: a box, a loose mask, strokes)
    and not to the others (an exact mask, e.g. one picked from a
    prediction), so that one model can trust an exact prompt's border and
    look past a drawn one's. :class:`SampleTaskPrompt` marks the prompts it
    roughens (``prompt_rough``). An encoder without it ignores the flags.

    Args:
        out_channels (int): Channels of the encoded prompt; must equal the
            channels of the pixel-decoder features it is added to.
        hidden_channels (Sequence[int]): Output channels of each
            ``CONV2`` block. Its length is the number of blocks. When
            ``num_conv1 == 0`` the last entry is replaced by
            ``out_channels``. Defaults to ``(4, 16)`` (SAM's mask encoder).
        num_conv1 (int): Number of ``CONV1`` layers after the blocks. The
            first maps ``hidden_channels[-1]`` to ``out_channels``, the
            others keep ``out_channels``. Defaults to 1.
        in_channels (int): Channels of the prompt. Defaults to 1.
        rough_flag (bool): Learn the rough-prompt vector (above). Defaults
            to False (the paper).
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(self,
                 out_channels: int,
                 hidden_channels: Sequence[int] = (4, 16),
                 num_conv1: int = 1,
                 in_channels: int = 1,
                 rough_flag: bool = False,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        hidden_channels = list(hidden_channels)
        if not hidden_channels and num_conv1 == 0:
            raise ValueError('MaskPromptEncoder needs at least one layer: '
                             'hidden_channels is empty and num_conv1 is 0')
        if num_conv1 < 0:
            raise ValueError(f'num_conv1 must be >= 0, got {num_conv1}')
        if num_conv1 == 0:
            hidden_channels[-1] = out_channels
        self.out_channels = out_channels
        self.num_conv2_blocks = len(hidden_channels)
        self.num_conv1 = num_conv1

        self.conv2s = nn.ModuleList()
        self.norms = nn.ModuleList()
        channels = in_channels
        for hidden in hidden_channels:
            self.conv2s.append(
                nn.Conv2d(channels, hidden, kernel_size=2, stride=2))
            self.norms.append(nn.LayerNorm(hidden))
            channels = hidden
        self.act = nn.GELU()
        self.conv1s = nn.ModuleList()
        for _ in range(num_conv1):
            self.conv1s.append(
                nn.Conv2d(channels, out_channels, kernel_size=1))
            channels = out_channels
        self.rough_embed = nn.Parameter(
            torch.zeros(out_channels)) if rough_flag else None

    @property
    def with_rough_flag(self) -> bool:
        """bool: Whether the encoder reads the rough-prompt flags."""
        return self.rough_embed is not None

    def encode(self,
               prompt_masks: Tensor,
               rough: Optional[Tensor] = None) -> Tensor:
        """Encode the prompt to :math:`M_2` (eq. 10).

        Args:
            prompt_masks (Tensor): Binary prompts, shape (B, 1, H, W), any
                dtype; non-zero means inside the prompt.
            rough (Tensor, optional): Shape (B, ): which prompts are rough
                (see the class); None: none is.

        Returns:
            Tensor: Shape (B, out_channels, H / 2**num_conv2_blocks,
            W / 2**num_conv2_blocks).
        """
        if prompt_masks.dim() != 4:
            raise ValueError('MaskPromptEncoder expects prompts of shape '
                             f'(B, 1, H, W), got {tuple(prompt_masks.shape)}')
        x = (prompt_masks > 0).to(next(self.parameters()).dtype)
        for conv, norm in zip(self.conv2s, self.norms):
            x = conv(x)
            # LayerNorm over channels at every pixel
            x = norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            x = self.act(x)
        for conv in self.conv1s:
            x = conv(x)
        if self.with_rough_flag and rough is not None:
            if rough.shape != (x.shape[0], ):
                raise ValueError(f'rough flags of shape {tuple(rough.shape)}'
                                 f' for {x.shape[0]} prompts; expected one '
                                 'each')
            x = x + rough.to(x).view(-1, 1, 1, 1) * \
                self.rough_embed.view(1, -1, 1, 1)
        return x

    def forward(self,
                prompt_masks: Tensor,
                feat_sizes: Sequence[Tuple[int, int]],
                rough: Optional[Tensor] = None) -> List[Tensor]:
        """Encode the prompt and resize it to every feature size (eq. 10-11).

        Args:
            prompt_masks (Tensor): Binary prompts, shape (B, 1, H, W), at the
                padded batch input size.
            feat_sizes (Sequence[tuple[int, int]]): ``(h, w)`` of the features
                the encoded prompt is added to, e.g. the pixel decoder's mask
                features (1/4) followed by its memories (1/32, 1/16, 1/8).
            rough (Tensor, optional): See :meth:`encode`.

        Returns:
            list[Tensor]: One tensor (B, out_channels, h, w) per entry of
            ``feat_sizes``. :math:`M_2` is returned unchanged where its size
            already matches; every other size is a bilinear resize of
            :math:`M_2`.
        """
        m2 = self.encode(prompt_masks, rough)
        outs = []
        for size in feat_sizes:
            size = tuple(int(s) for s in size)
            if tuple(m2.shape[-2:]) == size:
                outs.append(m2)
            else:
                outs.append(
                    F.interpolate(
                        m2, size=size, mode='bilinear', align_corners=False))
        return outs
