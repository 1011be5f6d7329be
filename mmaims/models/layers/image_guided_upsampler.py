# Copyright (c) mmaims contributors. All rights reserved.
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from mmaims.registry import MODELS


@MODELS.register_module()
class ImageGuidedMaskUpsampler(BaseModule):
    """Mask features at a finer stride, guided by the image (issue 19).

    Mask2Former's mask logits are the dot product of each query's mask
    embedding with the pixel decoder's mask features at 1/4 of the input;
    a boundary that the prompt does not give (a box, a loose lasso) is then
    only as precise as a bilinear upsampling of 1/4-resolution logits, and
    a part three pixels wide cannot be told from its neighbours. This
    module resizes the mask features to ``1 / out_stride`` of the input and
    adds a correction computed from them and from a small convolutional
    branch on the input image at that resolution::

        up  = bilinear(mask_features, H / out_stride)
        img = ConvModule(3 -> h, 3x3, stride out_stride) -> ConvModule(3x3)
        out = up + Conv1x1(ConvModule(cat(up, img) -> h, 3x3))

    It depends on the image only, so the detector applies it once per
    image (in ``extract_feat``), before any prompt is added; every mask
    logit, attention mask and loss then works at the finer stride (the
    heads take any mask-feature size).

    Args:
        channels (int): Channels of the mask features (the pixel decoder's
            ``out_channels``; :func:`mmaims.models.detectors.aims.
            fill_widths` fills it in).
        hidden_channels (int): Width of the image branch and of the fusion
            layer. Defaults to 32.
        out_stride (int): Stride of the output features w.r.t. the input:
            1 or 2 (the pixel decoder's are 4). Defaults to 2.
        in_channels (int): Channels of the input image. Defaults to 3.
        norm_cfg (dict): Norm of the convolutions. Defaults to
            ``dict(type='GN', num_groups=8)``.
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(self,
                 channels: int,
                 hidden_channels: int = 32,
                 out_stride: int = 2,
                 in_channels: int = 3,
                 norm_cfg: ConfigType = dict(type='GN', num_groups=8),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if out_stride not in (1, 2):
            raise ValueError('ImageGuidedMaskUpsampler: out_stride must be 1 '
                             f'or 2 (finer than the 1/4 mask features), got '
                             f'{out_stride!r}')
        self.channels = channels
        self.out_stride = out_stride
        self.image_convs = nn.Sequential(
            ConvModule(
                in_channels,
                hidden_channels,
                3,
                stride=out_stride,
                padding=1,
                norm_cfg=norm_cfg),
            ConvModule(
                hidden_channels,
                hidden_channels,
                3,
                padding=1,
                norm_cfg=norm_cfg))
        self.fuse = ConvModule(
            channels + hidden_channels,
            hidden_channels,
            3,
            padding=1,
            norm_cfg=norm_cfg)
        self.out_conv = nn.Conv2d(hidden_channels, channels, 1)

    def forward(self, mask_features: Tensor, images: Tensor) -> Tensor:
        """Mask features at ``1 / out_stride`` of the input.

        Args:
            mask_features (Tensor): (B, channels, H/4, W/4), the pixel
                decoder's.
            images (Tensor): The normalised, padded batch input
                (B, in_channels, H, W).

        Returns:
            Tensor: (B, channels, H / out_stride, W / out_stride).
        """
        if mask_features.dim() != 4 or mask_features.shape[1] != \
                self.channels or images.dim() != 4 or \
                images.shape[0] != mask_features.shape[0]:
            raise ValueError(
                f'ImageGuidedMaskUpsampler: expected mask features (B, '
                f'{self.channels}, h, w) and images (B, C, H, W), got '
                f'{tuple(mask_features.shape)} and {tuple(images.shape)}')
        guide = self.image_convs(images)
        up = F.interpolate(
            mask_features,
            size=guide.shape[-2:],
            mode='bilinear',
            align_corners=False)
        return up + self.out_conv(self.fuse(torch.cat([up, guide], dim=1)))
