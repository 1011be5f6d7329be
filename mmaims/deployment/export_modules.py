# Copyright (c) mmaims contributors. All rights reserved.
"""The two halves of an AIMS model as plain ``nn.Module`` s with tensor
inputs and outputs, for ``torch.onnx.export`` (docs/deployment.md).

They call the model's own modules; the only code written again is the
addition of the encoded prompt (:meth:`AIMS.add_prompt` /
:meth:`MaskPromptEncoder.forward`), whose Python ``int`` sizes would be
frozen into the traced graph. Their outputs equal the model's (tested in
``tests/test_deployment``).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

#: Output names of the image encoder after ``mask_features``; one
#: ``memory_{i}`` per multi-scale memory, low to high resolution.
MASK_FEATURES = 'mask_features'
PROMPT = 'prompt'
IMAGE = 'image'


def memory_names(num_levels: int) -> List[str]:
    """``['memory_0', ...]``: names of the multi-scale memories (1/32,
    1/16, 1/8 of the padded input for three levels)."""
    return [f'memory_{i}' for i in range(num_levels)]


def cls_name(decoder: str) -> str:
    """Output name of a decoder's object / no-object logits."""
    return f'{decoder}_cls_logits'


def mask_name(decoder: str) -> str:
    """Output name of a decoder's mask logits."""
    return f'{decoder}_mask_logits'


def assoc_name(pair_key: str) -> str:
    """Output name of the association logits of a pair (``entity_part``)."""
    return f'{pair_key}_assoc_logits'


class ImageEncoderForExport(nn.Module):
    """The image encoder of AIMS (backbone, neck, pixel decoder):
    :meth:`AIMS.extract_feat` with its outputs as a flat tuple.

    Args:
        model (nn.Module): An AIMS model in eval mode.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.training = model.training

    def forward(self, image: Tensor) -> Tuple[Tensor, ...]:
        """Encode a normalised, padded image batch.

        Args:
            image (Tensor): (B, 3, H, W), normalised and padded by the data
                preprocessor (H, W multiples of its ``pad_size_divisor``).

        Returns:
            tuple[Tensor]: ``mask_features`` (B, C_out, H/4, W/4), then the
            multi-scale memories low to high resolution, each
            (B, C, h_i, w_i).
        """
        mask_features, memorys = self.model.extract_feat(image)
        return (mask_features, *memorys)


class PromptDecoderForExport(nn.Module):
    """Everything after the image encoder, for one kind of pass: the mask
    prompt encoder, the decoders a pass runs with the TCM between them,
    their prediction heads and, optionally, the association module.

    A pass is what :meth:`AIMS.predict_by_feat` (one-step: every decoder
    and the association module) or :meth:`AIMS.predict_prompt` (a prompt of
    one decoder: the decoders of ``test_cfg.prompt_decoder_subset``, no
    association) runs; :func:`one_step_decoder` and :func:`prompt_decoder`
    build them. The outputs are the raw logits the post-processor reads:
    the last block's ``cls_scores`` and ``mask_preds`` of every decoder of
    ``outputs``, then the association logits of every pair of the
    association head (before the sigmoid).

    Args:
        model (nn.Module): An AIMS model in eval mode.
        outputs (Sequence[str]): Decoders whose predictions are returned.
        decoders (Sequence[str], optional): Decoders to run (the head's
            ``decoders`` argument). None: all.
        with_association (bool): Return the association logits. Needs the
            association head and every decoder it links. Defaults to
            False.
    """

    def __init__(self,
                 model: nn.Module,
                 outputs: Sequence[str],
                 decoders: Optional[Sequence[str]] = None,
                 with_association: bool = False) -> None:
        super().__init__()
        self.model = model
        # the model's mode, without switching it (``eval()`` recurses)
        self.training = model.training
        self.outputs = tuple(outputs)
        self.decoders = None if decoders is None else tuple(decoders)
        if with_association and not model.with_association_head:
            raise ValueError('with_association=True but the model has no '
                             'association head')
        self.with_association = with_association
        self.pairs: Tuple[Tuple[str, str, str], ...] = tuple(
            model.association_head.pairs) if with_association else ()
        run = self.decoders or tuple(model.decode_head.decoder_names)
        needed = set(self.outputs) | {
            name
            for _, parent, child in self.pairs
            for name in (parent, child)
        }
        if not needed <= set(run):
            raise ValueError(f'PromptDecoderForExport: outputs need the '
                             f'decoders {sorted(needed)} but the pass runs '
                             f'{list(run)}')

    @property
    def output_names(self) -> List[str]:
        """list[str]: Names of the outputs of :meth:`forward`, in order."""
        names = []
        for decoder in self.outputs:
            names += [cls_name(decoder), mask_name(decoder)]
        return names + [assoc_name(key) for key, _, _ in self.pairs]

    def add_prompt(self, mask_features: Tensor, memorys: List[Tensor],
                   prompt: Tensor) -> Tuple[Tensor, List[Tensor]]:
        """:meth:`AIMS.add_prompt`, with sizes taken from the tensors.

        ``MaskPromptEncoder.forward`` turns the feature sizes into Python
        ints, which a trace records as constants. Here :math:`M_2`
        (``encode``) is resized to each feature's traced size. Where
        ``MaskPromptEncoder.forward`` returns :math:`M_2` unchanged (same
        size: the mask features), this resizes it to its own size, which
        for bilinear interpolation without corner alignment is the
        identity (weights 1 and 0), so the sums are equal.
        """
        encoder = self.model.prompt_encoder
        if encoder is None:
            return mask_features, memorys
        m2 = encoder.encode(prompt)
        encoded = [
            F.interpolate(
                m2, size=feat.shape[-2:], mode='bilinear', align_corners=False)
            for feat in [mask_features] + memorys
        ]
        return mask_features + encoded[0], [
            m + e for m, e in zip(memorys, encoded[1:])
        ]

    def forward(self, mask_features: Tensor, *inputs: Tensor) -> Tuple:
        """Decode the cached image features under a prompt.

        Args:
            mask_features (Tensor): (B, C_out, H/4, W/4), from the image
                encoder.
            *inputs (Tensor): The multi-scale memories of the image encoder
                (low to high resolution), then the prompt (B, 1, H, W),
                float, 1 inside the prompt and 0 elsewhere (the padding is
                0), at the padded input size.

        Returns:
            tuple[Tensor]: For each decoder of ``outputs``, its logits
            (B, Q, 2) and mask logits (B, Q, H/4, W/4); then for each pair
            of the association head, its logits (B, Q_parent, Q_child).
        """
        *memorys, prompt = inputs
        mask_features, memorys = self.add_prompt(mask_features, memorys,
                                                 prompt)
        kwargs = {} if self.decoders is None else dict(decoders=self.decoders)
        head_outputs = self.model.decode_head.predict(mask_features, memorys,
                                                      None, **kwargs)
        results = []
        for decoder in self.outputs:
            results += [
                head_outputs[decoder].cls_scores[-1],
                head_outputs[decoder].mask_preds[-1]
            ]
        if self.pairs:
            logits: Dict[str, Tensor] = self.model.association_head({
                d:
                out.query_feats
                for d, out in head_outputs.items()
            })
            results += [logits[key] for key, _, _ in self.pairs]
        return tuple(results)


def one_step_decoder(model: nn.Module) -> PromptDecoderForExport:
    """The decoder pass of one-step inference (:meth:`AIMS.predict`): every
    decoder, each output as its own level, and the association logits when
    the model has the association module.

    Args:
        model (nn.Module): An AIMS model in eval mode.

    Returns:
        PromptDecoderForExport: The pass.
    """
    names = tuple(model.decode_head.decoder_names)
    return PromptDecoderForExport(
        model,
        outputs=names,
        decoders=model._decoders_to_run([None]),
        with_association=model.with_association_head)


def prompt_decoder(model: nn.Module, decoder: str) -> PromptDecoderForExport:
    """The decoder pass of a prompt of ``decoder`` (:meth:`AIMS.
    predict_prompt`): the decoders ``test_cfg.prompt_decoder_subset``
    runs for it, ``decoder``'s predictions out, no association (prompt
    mode reports one level, so the model computes no links).

    Args:
        model (nn.Module): An AIMS model in eval mode.
        decoder (str): The prompt's decoder.

    Returns:
        PromptDecoderForExport: The pass.
    """
    level = model._prompt_output_level(decoder)
    return PromptDecoderForExport(
        model,
        outputs=(decoder, ),
        decoders=model._decoders_to_run([{
            decoder: level
        }]),
        with_association=False)
