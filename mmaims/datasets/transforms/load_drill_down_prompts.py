# Copyright (c) mmaims contributors. All rights reserved.
from typing import List, Optional, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from mmaims.registry import TRANSFORMS
from mmaims.structures import decode_rle, encode_mask, merge_rles
from mmaims.structures.drill_down import (DrillDownPrompt, annotation_links,
                                          drill_down_prompts)
from mmaims.structures.mask import rle_area
from mmaims.structures.prompt_perturbation import (perturb_prompt,
                                                   perturbation_tag)


def exact_drill_down_prompts(
        data_info: dict) -> List[Tuple[DrillDownPrompt, dict]]:
    """The drill-down prompts of an image with their exact masks.

    Args:
        data_info (dict): The data info of the image (``instances`` with
            ``level``, ``mask`` (RLE at the original size), ``ignore_flag``,
            ``ann_id``, ``entity_id`` / ``entity_ids``; ``levels``).

    Returns:
        list[tuple[DrillDownPrompt, dict]]: Each prompt of
        :func:`mmaims.structures.drill_down_prompts` and its mask (the
        entity, or the union of the two entities), a compressed RLE.
    """
    instances = data_info.get('instances', [])
    links = [
        annotation_links(inst['level'], inst['ann_id'], inst['ignore_flag'],
                         inst.get('entity_id'), inst.get('entity_ids'),
                         rle_area(inst['mask'])) for inst in instances
    ]
    prompts, _ = drill_down_prompts(data_info.get('levels', []), links)
    masks = {inst['ann_id']: inst['mask'] for inst in instances}
    return [(prompt, merge_rles([masks[i] for i in prompt.prompt_ann_ids]))
            for prompt in prompts]


@TRANSFORMS.register_module()
class LoadDrillDownPrompts(BaseTransform):
    """List the drill-down prompts of an evaluation image, so that the model
    predicts on them and ``FederatedMetric(drill_down=True)`` scores them
    (docs/formats.md section 3, "Drill-down").

    The prompts are those of :func:`mmaims.structures.drill_down_prompts`,
    the function the metric's ground truth uses: every entity that has parts
    (on images that list ``part``) and every relation (on images that list
    ``relation``). Put it in the test pipeline anywhere after the dataset
    (it reads the raw ``instances`` of the data info, at the original image
    size); :class:`PackAIMSInputs` copies the list into the metainfo, and
    :class:`mmaims.models.AIMS` runs each prompt through the decoder of its
    prompt type, batching the prompts of an image on its features.

    Required Keys:

    - instances (list[dict]): ``level``, ``mask`` (RLE), ``ignore_flag``,
      ``ann_id``, ``entity_id`` (parts), ``entity_ids`` (relations)
    - levels (list[str])

    Added Keys:

    - drill_down_prompts (list[dict]): per prompt, ``type`` (link type
      name: ``'entity-part'`` or ``'relation-entity'``), ``ann_id`` (the
      entity / relation annotation), ``prompt_type`` (``'one_entity'`` /
      ``'two_entities'``), ``mask`` (compressed RLE of the prompt at the
      original size: the entity, or the union of the two entities, rough
      when ``perturbation`` is given), ``perturbation`` (its tag, ``''``
      for exact prompts) and ``rough`` (whether the model is told the
      prompt is rough, for an MPE with ``rough_flag``).

    Args:
        perturbation (str | dict, optional): Give the model rough prompts
            instead of exact masks (:func:`mmaims.structures.
            prompt_perturbation.perturb_prompt`: ``'box'``,
            ``dict(type='dilate', k=3)``, ...). The targets stay the true
            children; the metric's keys carry the tag
            (``drill_box_part_mAP``). Defaults to None (exact).
        seed (int): Seed of random perturbations; each prompt draws from
            ``(seed, image id, annotation id)``. Defaults to 0.
        rough (bool, optional): The ``rough`` of every prompt. None: rough
            iff ``perturbation`` is given, as an application knows a drawn
            prompt from a picked mask. Defaults to None.
    """

    def __init__(self,
                 perturbation: Union[None, str, dict] = None,
                 seed: int = 0,
                 rough: Optional[bool] = None) -> None:
        self.perturbation = perturbation
        self.tag = perturbation_tag(perturbation)
        self.seed = seed
        self.rough = bool(self.tag) if rough is None else bool(rough)

    def transform(self, results: dict) -> dict:
        """Add ``drill_down_prompts``.

        Args:
            results (dict): Result dict with the data info.

        Returns:
            dict: ``results`` with ``drill_down_prompts``.
        """
        results['drill_down_prompts'] = [
            dict(
                type=prompt.type,
                ann_id=prompt.ann_id,
                prompt_type=prompt.prompt_type,
                mask=self.prompt_mask(mask, results.get('img_id', 0),
                                      prompt.ann_id),
                perturbation=self.tag,
                rough=self.rough)
            for prompt, mask in exact_drill_down_prompts(results)
        ]
        return results

    def prompt_mask(self, rle: dict, img_id: int, ann_id: int) -> dict:
        """The prompt the model is given for an exact prompt mask: the
        mask itself, or its perturbation, seeded by (``seed``, image id,
        annotation id) so that every run and checkpoint gets the same.

        Args:
            rle (dict): The exact prompt mask (RLE).
            img_id (int): Its image.
            ann_id (int): The prompted annotation (entity or relation).

        Returns:
            dict: ``rle`` itself for exact prompts, else the perturbed
            mask as a compressed RLE.
        """
        if not self.tag:
            return rle
        seed: Optional[list] = [self.seed, int(img_id), int(ann_id)]
        return encode_mask(
            perturb_prompt(
                decode_rle(rle), self.perturbation,
                seed=int(np.random.SeedSequence(seed).generate_state(1)[0])))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(perturbation='
                f'{self.perturbation!r}, seed={self.seed}, '
                f'rough={self.rough})')
