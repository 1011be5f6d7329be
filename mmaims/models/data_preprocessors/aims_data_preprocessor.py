# Copyright (c) mmaims contributors. All rights reserved.
from typing import Tuple

import torch
import torch.nn.functional as F
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import BaseBoxes
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import PixelData
from torch import Tensor

from mmaims.registry import MODELS
from mmaims.structures.fields import INSTANCE_FIELDS, LOSS_REGION_FIELD


@MODELS.register_module()
class AIMSDataPreprocessor(DetDataPreprocessor):
    """Data preprocessor of AIMS.

    On top of :class:`mmdet.models.DetDataPreprocessor` (normalisation,
    batching, padding of the images, ``batch_input_shape`` / ``pad_shape``
    metainfo, batch augmentations), it pads every mask-carrying field of
    ``docs/data_sample.md`` to the final ``batch_input_shape`` (padding is at
    the bottom and right, like the images):

    - the masks of ``gt_instances``, ``gt_part_instances``,
      ``gt_relation_instances`` and the three ``ignored_*instances``
      (with ``mask_pad_value``), when ``pad_mask`` is True and in training
      (as mmdet does for ``gt_instances``);
    - ``prompt_mask`` with 0 and ``valid_region`` with False, always (the
      prompt is an input of the model at inference too), and
      ``loss_region`` (a roughened training prompt's) with False when
      present.

    A sample without ``prompt_mask`` gets the full-image prompt: 1 on the
    image area (``img_shape``), 0 on the padding. A sample without
    ``valid_region`` gets True on the image area, False on the padding.

    Added / modified data-sample fields: ``prompt_mask`` (``uint8``
    ``1 x H_pad x W_pad``), ``valid_region`` (``bool`` ``1 x H_pad x
    W_pad``), the padded instance masks; ``bboxes`` of every instance field
    are turned into tensors when ``boxtype2tensor`` is True.

    Args:
        **kwargs: The arguments of :class:`DetDataPreprocessor`.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        """Normalise, pad and batch the images; pad every mask field.

        Args:
            data (dict): Data sampled from the dataloader.
            training (bool): Whether to enable training-time padding of the
                instance masks and the batch augmentations.

        Returns:
            dict: ``inputs`` (Tensor, B x 3 x H_pad x W_pad) and
            ``data_samples``.
        """
        data = super().forward(data=data, training=training)
        data_samples = data['data_samples']
        if data_samples is not None:
            for data_sample in data_samples:
                self._pad_sample(data_sample, training)
        return data

    def _pad_sample(self, data_sample: DetDataSample, training: bool) -> None:
        pad_shape = tuple(int(s) for s in data_sample.batch_input_shape)
        img_id = data_sample.metainfo.get('img_id', '?')
        img_h, img_w = (int(s) for s in data_sample.img_shape[:2])

        for field in INSTANCE_FIELDS:
            if field not in data_sample:
                continue
            instances = data_sample.get(field)
            if self.boxtype2tensor and isinstance(
                    instances.get('bboxes', None), BaseBoxes):
                instances.bboxes = instances.bboxes.tensor
            if self.pad_mask and training and 'masks' in instances:
                instances.masks = _pad_masks(instances.masks, pad_shape,
                                             self.mask_pad_value,
                                             f'image {img_id}: {field}')

        if 'prompt_mask' in data_sample:
            prompt = data_sample.prompt_mask.data
        else:
            prompt = torch.ones((1, img_h, img_w),
                                dtype=torch.uint8,
                                device=self.device)
        data_sample.prompt_mask = PixelData(
            data=_pad_map(prompt, pad_shape, 0, f'image {img_id}: '
                          'prompt_mask').to(self.device, torch.uint8))

        if 'valid_region' in data_sample:
            valid = data_sample.valid_region.data
        else:
            valid = torch.ones((1, img_h, img_w),
                               dtype=torch.bool,
                               device=self.device)
        data_sample.valid_region = PixelData(
            data=_pad_map(
                valid.to(torch.uint8), pad_shape, 0,
                f'image {img_id}: valid_region').to(self.device, torch.bool))

        if LOSS_REGION_FIELD in data_sample:
            region = data_sample.get(LOSS_REGION_FIELD).data
            data_sample.set_field(
                PixelData(
                    data=_pad_map(
                        region.to(torch.uint8), pad_shape, 0,
                        f'image {img_id}: {LOSS_REGION_FIELD}').to(
                            self.device, torch.bool)), LOSS_REGION_FIELD)


def _pad_masks(masks, pad_shape: Tuple[int, int], pad_val: int, where: str):
    """Pad ``BitmapMasks`` or an ``N x H x W`` tensor to ``pad_shape``."""
    if isinstance(masks, BitmapMasks):
        _check_fits((masks.height, masks.width), pad_shape, where)
        if (masks.height, masks.width) == pad_shape:
            return masks
        return masks.pad(pad_shape, pad_val=pad_val)
    if isinstance(masks, Tensor):
        return _pad_map(masks, pad_shape, pad_val, where)
    raise TypeError(f'{where}: masks must be BitmapMasks or a Tensor, got '
                    f'{type(masks).__name__}')


def _pad_map(data: Tensor, pad_shape: Tuple[int, int], pad_val: int,
             where: str) -> Tensor:
    """Pad the last two dims of a ``C x H x W`` tensor to ``pad_shape``."""
    if data.dim() != 3:
        raise ValueError(f'{where}: expected a C x H x W tensor, got shape '
                         f'{tuple(data.shape)}')
    h, w = data.shape[-2:]
    _check_fits((h, w), pad_shape, where)
    if (h, w) == pad_shape:
        return data
    return F.pad(
        data, (0, pad_shape[1] - w, 0, pad_shape[0] - h), value=pad_val)


def _check_fits(shape: Tuple[int, int], pad_shape: Tuple[int, int],
                where: str) -> None:
    if shape[0] > pad_shape[0] or shape[1] > pad_shape[1]:
        raise ValueError(
            f'{where}: mask of size {tuple(shape)} is larger than the batch '
            f'input {tuple(pad_shape)}; masks must be at img_shape before '
            'padding (a batch augment that resizes images must resize the '
            'masks too)')
