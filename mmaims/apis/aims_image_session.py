# Copyright (c) mmaims contributors. All rights reserved.
import copy
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
from mmdet.structures import DetDataSample
from mmengine.structures import PixelData

from mmaims.structures.prompt_geometry import fit_prompt, rough_flags
from mmaims.structures.tasks import DEFAULT_PROMPT_TYPES
from .inputs import PromptInput, is_box, load_prompt
from .outputs import (check_decoder, check_levels, check_promptable,
                      filter_levels, sample_to_result)

#: The clip of ``clip='auto'`` for a box and for a mask given as exact
#: (``rough=False``, e.g. a predicted mask): they hold their object, so
#: cutting at them loses none of it, and ``'hard'`` is the best measured
#: for both with every model of docs/inference.md ("Rough prompts"). A
#: mask given as drawn (``rough=True``) takes ``test_cfg.prompt_clip``.
AUTO_CLIP = 'hard'


def resolve_clip(clip: Optional[str], prompt: PromptInput,
                 rough: bool) -> Optional[str]:
    """The clip mode of one prompt: ``clip`` itself, or for ``'auto'``
    :data:`AUTO_CLIP` for a box or an exact mask and None (the config's
    ``test_cfg.prompt_clip``) for a drawn mask."""
    if clip != 'auto':
        return clip
    return AUTO_CLIP if is_box(prompt) or not rough else None


class AIMSImageSession:
    """One image whose features are computed once, for the editing loop.

    The image encoder (backbone, pixel decoder) runs in the constructor;
    :meth:`predict` (one-step inference) and :meth:`prompt` (drill-down on
    a mask) then only run the prompt encoder, the decoders and the
    post-processing, however many times they are called. Get one from
    :meth:`AIMSInferencer.session`::

        session = inferencer.session('photo.jpg')
        pred = session.predict()                     # all levels
        entity = [m for m in pred['masks'] if m['level'] == 'entity'][0]
        parts = session.prompt(decode_rle(entity['segmentation']),
                               decoder='part')[0]

    A session holds what its predictions need (the model, the image, its
    preprocessed sample and features) and does not use the inferencer that
    made it.

    Args:
        model (nn.Module): The AIMS model, in eval mode.
        data (dict): The image through the test pipeline and the collate
            function: ``inputs`` and ``data_samples`` of a batch of one.
        image (np.ndarray): The ``H x W x 3`` BGR image ``data`` was made
            from, at the original size.
        name (str): Name of the image in results and messages.
        notes (Sequence[str]): Conversions applied to the input image,
            copied to the results. Defaults to none.

    Raises:
        ValueError: ``model`` is a CropFormer (no prompts, no sessions: see
            :func:`check_promptable`).
    """

    def __init__(self,
                 model: nn.Module,
                 data: dict,
                 image: np.ndarray,
                 name: str,
                 notes: Sequence[str] = ()) -> None:
        check_promptable(model)
        self.model = model
        self.name = name
        self.image = image
        self.notes = list(notes)
        with torch.no_grad():
            batch = model.data_preprocessor(data, False)
            self.inputs = batch['inputs']
            self.data_sample: DetDataSample = batch['data_samples'][0]
            self.feats = model.extract_feat(self.inputs)
        self._reference: Optional[DetDataSample] = None

    @property
    def shape(self) -> tuple:
        """tuple[int, int]: ``(H, W)`` of the original image."""
        return tuple(self.image.shape[:2])

    def predict_sample(self) -> DetDataSample:
        """One-step inference on the cached features.

        Returns:
            DetDataSample: A new sample with the fields of
            docs/data_sample.md section 2.
        """
        sample = DetDataSample(
            metainfo=copy.deepcopy(self.data_sample.metainfo))
        sample.prompt_mask = PixelData(
            data=self.data_sample.prompt_mask.data.clone())
        with torch.no_grad():
            # one-step inference without recomputing the image features
            return self.model.predict_by_feat(self.feats, [sample])[0]

    def _references(self, snap: Optional[bool], prompt_type: str,
                    clip: Optional[str]) -> Optional[List[DetDataSample]]:
        """The one-step prediction that snapping (``snap``, or
        ``test_cfg.prompt_snap`` when it is None) snaps rough prompts to
        and ``clip='entities'`` takes entities from, computed once per
        session (None when neither needs it)."""
        if self.model.snap_level(prompt_type, snap=snap) is None and \
                self.model.post_processor.prompt_clip_mode(
                    clip) != 'entities':
            return None
        if self._reference is None:
            self._reference = self.predict_sample()
        return [self._reference]

    def prompt_sample(self,
                      prompt: PromptInput,
                      decoder: str = 'part',
                      prompt_type: Optional[str] = None,
                      snap: Optional[bool] = None,
                      clip: Optional[str] = None,
                      rough: bool = False) -> DetDataSample:
        """Prompt inference of one mask on the cached features.

        Args:
            prompt (str | np.ndarray | Sequence[float]): Binary mask (PNG
                path or array) on the original image (another size is
                resized with a warning), or a box ``(x1, y1, x2, y2)`` in
                its pixels.
            decoder (str): ``'part'``, ``'entity'`` or ``'relation'``.
            prompt_type (str, optional): Recorded in the sample's ``task``;
                defaults to
                :data:`mmaims.structures.tasks.DEFAULT_PROMPT_TYPES` of the
                decoder.
            snap (bool, optional): Replace a one-entity / two-entity
                prompt by the one-step mask it matches best (IoU) first;
                None: as ``test_cfg.prompt_snap`` says (off by default).
                Measured to help scribbles and cost exact prompts
                (docs/inference.md, "Rough prompts").
            clip (str, optional): How the children are clipped to the
                prompt: ``'hard'`` (cut at it), ``'margin'`` (cut at it
                grown by ``test_cfg.prompt_clip_margin`` px),
                ``'entities'`` (cut at it grown, with the one-step
                entities mostly inside it), ``'inside'`` or ``'none'``;
                ``'auto'``: ``'hard'`` for a box or an exact mask, as
                ``test_cfg.prompt_clip`` says for a drawn one
                (:func:`resolve_clip`); None: as ``test_cfg.prompt_clip``
                says.
                Which helps which kind of prompt is measured in
                docs/inference.md, "Rough prompts".
            rough (bool): The prompt was drawn (a box, a loose mask,
                strokes) rather than picked (an exact mask, e.g. a
                predicted one). A model trained with the rough-prompt
                flag (``prompt_encoder.rough_flag``) reads it (a box and
                the same box as a mask give the same result), and
                ``clip='auto'`` does. Defaults to False.

        Returns:
            DetDataSample: A new sample; the decoder's masks are in the
            field of its output level (``test_cfg.prompt_output_levels``).

        Raises:
            ValueError: Unknown decoder, empty prompt.
        """
        mask = self._fit(prompt)
        if prompt_type is None:
            prompt_type = DEFAULT_PROMPT_TYPES.get(decoder)
        clip = resolve_clip(clip, prompt, rough)
        with torch.no_grad():
            return self.model.predict_prompts(
                self.feats,
                self.data_sample, [torch.from_numpy(mask)],
                decoder,
                prompt_type=prompt_type,
                references=self._references(snap, prompt_type, clip),
                snap=snap,
                clip=clip,
                rough=rough)[0]

    def predict(
            self,
            levels: Optional[Sequence[str]] = None,
            return_datasamples: bool = False) -> Union[dict, DetDataSample]:
        """One-step inference, as a prediction dict.

        Args:
            levels (Sequence[str], optional): Levels to keep (all by
                default); links are kept when both their levels are.
            return_datasamples (bool): Return the ``DetDataSample``.

        Returns:
            dict | DetDataSample: The prediction dict of docs/formats.md
            section 2 with ``image``, ``height``, ``width`` and ``notes``.
        """
        levels = check_levels(levels)
        sample = filter_levels(self.predict_sample(), levels)
        if return_datasamples:
            return sample
        return sample_to_result(sample, self.name, self.notes,
                                self.model.prompt_output_levels)

    def prompt(
            self,
            prompts: Union[PromptInput, Sequence[PromptInput]],
            decoder: Union[str, Sequence[str]] = 'part',
            prompt_type: Optional[str] = None,
            return_datasamples: bool = False,
            snap: Optional[bool] = None,
            clip: Optional[str] = None,
            rough: Union[bool, Sequence[bool]] = False
    ) -> List[Union[dict, DetDataSample]]:
        """Prompt inference of one or several masks on the cached features.

        The prompts of one decoder go through the decoders together
        (:meth:`AIMS.predict_prompts`); a list of decoders, one per prompt,
        mixes them (each decoder's prompts batched, results in the order of
        the prompts).

        Args:
            prompts (str | np.ndarray | Sequence[float] | list): One mask
                or box, or a list of them.
            decoder (str | Sequence[str]): ``'part'`` (split an entity into
                parts), ``'relation'`` (split two touching entities) or
                ``'entity'`` (split a region into entities), or one of
                them per prompt.
            prompt_type (str, optional): See :meth:`prompt_sample`; by
                default each decoder's.
            return_datasamples (bool): Return ``DetDataSample`` s.
            snap (bool, optional): See :meth:`prompt_sample`.
            clip (str, optional): See :meth:`prompt_sample`; with
                ``'auto'`` each prompt's own.
            rough (bool | Sequence[bool]): See :meth:`prompt_sample`; one
                for all prompts or one per prompt.

        Returns:
            list[dict | DetDataSample]: One prediction dict per prompt, with
            ``prompt`` (``decoder``, ``prompt_type``, ``level``).
        """
        if isinstance(prompts, (list, tuple)) and not is_box(prompts):
            prompt_list = list(prompts)
        else:
            prompt_list = [prompts]
        decoders = [decoder] * len(prompt_list) if isinstance(
            decoder, str) else list(decoder)
        if len(decoders) != len(prompt_list):
            raise ValueError(f'{len(decoders)} decoders for '
                             f'{len(prompt_list)} prompts; give one decoder, '
                             'or one per prompt')
        for name in set(decoders):
            check_decoder(name, self.model)
        flags = rough_flags(rough, len(prompt_list))
        masks = [
            torch.from_numpy(self._fit(prompt, index))
            for index, prompt in enumerate(prompt_list)
        ]
        clips = [
            resolve_clip(clip, prompt, flag)
            for prompt, flag in zip(prompt_list, flags)
        ]
        # the prompts of one decoder and one clip mode go together
        groups: dict = {}
        for row, group in enumerate(zip(decoders, clips)):
            groups.setdefault(group, []).append(row)
        samples: List[Optional[DetDataSample]] = [None] * len(masks)
        with torch.no_grad():
            for (name, name_clip), rows in groups.items():
                name_type = prompt_type or DEFAULT_PROMPT_TYPES.get(name)
                outputs = self.model.predict_prompts(
                    self.feats,
                    self.data_sample, [masks[i] for i in rows],
                    name,
                    prompt_type=name_type,
                    references=self._references(snap, name_type, name_clip),
                    snap=snap,
                    clip=name_clip,
                    rough=[flags[i] for i in rows])
                for row, sample in zip(rows, outputs):
                    samples[row] = sample
        if return_datasamples:
            return samples
        return [
            sample_to_result(sample, self.name, self.notes,
                             self.model.prompt_output_levels)
            for sample in samples
        ]

    def drill_down_all(self, score_thr: float = 0.5) -> dict:
        """The one-step prediction expanded into the next level down:
        every entity with a score above ``score_thr`` split into its parts
        by the part decoder, every such relation into its two entities by
        the relation decoder (a one-entity / two-entity prompt each, all
        prompts of a decoder in batched passes on the cached features).

        Args:
            score_thr (float): Masks with a score <= this are not drilled
                into. Defaults to 0.5.

        Returns:
            dict: The one-step prediction dict of :meth:`predict`, plus
            ``drill_down``: one entry per drilled mask, ``parent_id`` (its
            id among ``masks``), ``decoder``, ``prompt_type``, ``level``
            (of the children) and ``masks`` (the children, ids numbered
            within the entry), as docs/formats.md section 2 describes.
        """
        from mmaims.structures import decode_rle
        result = self.predict()
        result['drill_down'] = []
        for parent_level, decoder in (('entity', 'part'),
                                      ('relation', 'relation')):
            parents = [
                m for m in result['masks']
                if m['level'] == parent_level and m['score'] > score_thr
            ]
            if not parents:
                continue
            outputs = self.prompt(
                [decode_rle(m['segmentation']) for m in parents],
                decoder=decoder)
            for parent, output in zip(parents, outputs):
                result['drill_down'].append(
                    dict(parent_id=parent['id'], **output['prompt'],
                         masks=output['masks']))
        return result

    def _fit(self, prompt: PromptInput, index: int = 0) -> np.ndarray:
        """A prompt as a bool mask of the image's size (see
        :func:`fit_prompt`)."""
        where = f'{self.name}: prompt' + (f' {prompt}' if isinstance(
            prompt, str) else f' {index}')
        return fit_prompt(load_prompt(prompt, where), self.shape, where)
