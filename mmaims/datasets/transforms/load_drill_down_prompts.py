# Copyright (c) mmaims contributors. All rights reserved.
from mmcv.transforms import BaseTransform

from mmaims.registry import TRANSFORMS
from mmaims.structures import merge_rles
from mmaims.structures.drill_down import annotation_links, drill_down_prompts
from mmaims.structures.mask import rle_area


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
      ``'two_entities'``) and ``mask`` (compressed RLE of the prompt at the
      original size: the entity, or the union of the two entities).
    """

    def transform(self, results: dict) -> dict:
        """Add ``drill_down_prompts``.

        Args:
            results (dict): Result dict with the data info.

        Returns:
            dict: ``results`` with ``drill_down_prompts``.
        """
        instances = results.get('instances', [])
        links = [
            annotation_links(inst['level'], inst['ann_id'],
                             inst['ignore_flag'], inst.get('entity_id'),
                             inst.get('entity_ids'), rle_area(inst['mask']))
            for inst in instances
        ]
        prompts, _ = drill_down_prompts(results.get('levels', []), links)
        masks = {inst['ann_id']: inst['mask'] for inst in instances}
        results['drill_down_prompts'] = [
            dict(
                type=prompt.type,
                ann_id=prompt.ann_id,
                prompt_type=prompt.prompt_type,
                mask=merge_rles([masks[i] for i in prompt.prompt_ann_ids]))
            for prompt in prompts
        ]
        return results
