# Copyright (c) mmaims contributors. All rights reserved.
"""What the inferencer and its image sessions return.

The checks of the arguments that choose the output (``levels``, a prompt
decoder, whether the model takes prompts at all), the removal of the
levels not asked for, and the prediction dict of a predicted sample.
:class:`AIMSInferencer` and :class:`AIMSImageSession` both use these
functions, so that a session needs only the model and its own image, not
the inferencer.
"""
from typing import Dict, List, Optional, Sequence

import torch.nn as nn
from mmdet.structures import DetDataSample

from mmaims.structures import ENTITY, LEVELS, samples_to_predictions
from mmaims.structures.fields import LINK_TYPES, PRED_FIELDS, PROMPT_ROUGH_KEY
from mmaims.structures.tasks import parse_task


def check_levels(levels: Optional[Sequence[str]]) -> List[str]:
    """Validate a ``levels`` argument.

    Args:
        levels (str | Sequence[str], optional): Level names; None: all
            levels.

    Returns:
        list[str]: The levels, in the order part, entity, relation.

    Raises:
        ValueError: Unknown level name, or no level.
    """
    if levels is None:
        return list(LEVELS)
    if isinstance(levels, str):
        levels = [levels]
    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown:
        raise ValueError(f'unknown level name(s) {unknown}; levels are '
                         f'{", ".join(LEVELS)}')
    if not levels:
        raise ValueError('levels is empty; choose some of '
                         f'{", ".join(LEVELS)}')
    return [lv for lv in LEVELS if lv in levels]


def check_decoder(decoder: str, model: nn.Module) -> str:
    """Validate a prompt decoder name against the model's decoders.

    Args:
        decoder (str): Decoder name.
        model (nn.Module): The AIMS model.

    Returns:
        str: ``decoder``.

    Raises:
        ValueError: The model has no such decoder.
    """
    known = tuple(getattr(model.decode_head, 'decoder_names', LEVELS))
    if decoder not in known:
        raise ValueError(f'unknown prompt decoder "{decoder}"; the model '
                         f'has {", ".join(known)}')
    return decoder


def is_entity_only(model: nn.Module) -> bool:
    """Whether ``model`` is a one-step entity segmenter without prompts
    (CropFormer, the entity framework): anything but AIMS itself."""
    from mmaims.models.detectors import AIMS, CropFormer
    return isinstance(model, CropFormer) or not isinstance(model, AIMS)


def check_promptable(model: nn.Module) -> None:
    """Refuse prompts and image sessions for a model that has neither.

    Only AIMS takes prompts. A CropFormer model has no mask prompt encoder
    and predicts with a crop ensemble over the image and its corner crops
    (:meth:`CropFormer.predict`), which the cached features of an image
    session do not hold; the entity framework
    (:class:`~mmaims.models.EntityCondInst`) is a one-step entity
    segmenter. Prompts, drill-down and sessions are AIMS-only.

    Args:
        model (nn.Module): The model of an inferencer or session.

    Raises:
        ValueError: ``model`` is a CropFormer or not an AIMS model.
    """
    if is_entity_only(model):
        raise ValueError(
            f'{type(model).__name__} models take no prompt: only AIMS has '
            'a mask prompt encoder (CropFormer predicts with a crop '
            'ensemble, the entity framework one-step), so prompts, '
            'drill-down and image sessions are AIMS-only; run one-step '
            'inference (no prompt) instead')


def check_output_levels(levels: Sequence[str], model: nn.Module) -> None:
    """Refuse ``levels`` of which the model outputs none.

    AIMS outputs all three levels; CropFormer and the entity framework
    (:func:`check_promptable` refuses both) output entities only, so
    ``levels=['part']`` would give every image an empty prediction.

    Args:
        levels (Sequence[str]): Checked level names (:func:`check_levels`).
        model (nn.Module): The model of an inferencer.

    Raises:
        ValueError: None of ``levels`` is a level the model outputs.
    """
    if is_entity_only(model) and ENTITY not in levels:
        raise ValueError(
            f'{type(model).__name__} models output entity masks only; '
            f'levels={list(levels)} asks for none of them')


def filter_levels(sample: DetDataSample,
                  levels: Sequence[str]) -> DetDataSample:
    """Remove the level fields not in ``levels`` and the links that touch
    them, in place.

    The decoders of all levels still ran (the task complementarity module
    couples them); only the output is reduced.

    Args:
        sample (DetDataSample): A predicted sample.
        levels (Sequence[str]): Levels to keep.

    Returns:
        DetDataSample: ``sample``.
    """
    for level, field in PRED_FIELDS.items():
        if level not in levels and field in sample:
            delattr(sample, field)
    for link in LINK_TYPES:
        if (link.parent not in levels or link.child not in levels) and \
                link.field in sample:
            delattr(sample, link.field)
    return sample


def sample_to_result(sample: DetDataSample, name: str, notes: Sequence[str],
                     prompt_output_levels: Dict[str, str]) -> dict:
    """Prediction dict of one predicted sample.

    Args:
        sample (DetDataSample): A predicted sample (docs/data_sample.md
            section 2) with ``img_id`` and ``ori_shape`` metainfo.
        name (str): Name of the image, the ``image`` of the result when the
            sample has no ``img_path``.
        notes (Sequence[str]): Conversions applied to the input image.
        prompt_output_levels (dict[str, str]): Decoder -> level of its
            prompt-mode output (the model's ``prompt_output_levels``).

    Returns:
        dict: The prediction dict of docs/formats.md section 2 with ``image``,
        ``height``, ``width``, ``notes`` and, in prompt mode, ``prompt``
        (``decoder``, ``prompt_type``, ``level``; ``rough: True`` when the
        model was told the prompt is rough).
    """
    result = samples_to_predictions([sample], start_id=1)
    meta = sample.metainfo
    height, width = (int(s) for s in meta['ori_shape'][:2])
    result.update(
        image=meta.get('img_path') or name,
        height=height,
        width=width,
        notes=list(notes))
    task = parse_task(meta)
    if task.prompt_type not in (None, 'full') and task.decoder:
        result['prompt'] = dict(
            decoder=task.decoder,
            prompt_type=task.prompt_type,
            level=prompt_output_levels.get(task.decoder))
        if meta.get(PROMPT_ROUGH_KEY, False):
            result['prompt']['rough'] = True
    return result
