# Copyright (c) mmaims contributors. All rights reserved.
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform

from mmaims.registry import TRANSFORMS
from mmaims.structures import ENTITY, PART, RELATION
from mmaims.structures.fields import LOSS_REGION_FIELD, PROMPT_ROUGH_KEY
from mmaims.structures.prompt_perturbation import (perturb_prompt,
                                                   perturbation_tag)
from mmaims.structures.tasks import (SAMPLE_TYPES, check_sample_type,
                                     eval_task, supervision)
from .hierarchy import LEVEL_PREFIX, has_level, keep_instances, num_instances


@TRANSFORMS.register_module()
class SampleTaskPrompt(BaseTransform):
    """Build the mask prompt, targets and supervision of one sample type
    (paper Table 5).

    The sample type comes from ``results['sample_type']`` (set by
    :class:`AIMSTaskDataset`), else ``default_sample_type``. "Entities"
    below are the non-crowd entity rows that are still present. Crowd rows
    of every level are always kept: they are ignore regions.

    - **0** (evaluation): full-image prompt (all ones), no target removed,
      every decoder supervised at its own level, exhaustive iff the image
      lists that level.
    - **1-3** (full image -> entity / part / relation decoder): prompt all
      ones, no target removed. Needs the decoder's level in ``levels``.
    - **4-6** (partial image -> entity / part / relation decoder): draw
      ``k`` uniformly in ``[1, #entities]`` and a uniform random subset of
      ``k`` entities (so the prompt ranges from one entity up to the whole
      annotated area); the prompt is the union of their masks. Targets are
      restricted to the prompt: entities = the subset; parts = parts whose
      entity is in the subset, plus parts without a parent that lie at
      least ``min_inside_ratio`` inside the prompt; relations = relations
      whose two entities are in the subset. When the decoder's level is not
      exhaustive (part/relation not listed in ``levels``), the subset is
      forced to contain one entity that has a part (type 5) or both
      entities of one relation (type 6), so the decoder gets a target.
    - **7** (one entity -> part decoder): a random entity that has at least
      one part; prompt = its mask; targets = that entity and its parts.
    - **8** (two entities -> relation decoder): a random relation whose two
      entities are present; prompt = the union of the two entity masks;
      targets = the two entities (what the relation decoder must output),
      the relation itself and the entities' parts.

    ``task['supervision']`` maps each supervised decoder to the level its
    queries are matched to and whether the targets are exhaustive (then
    unmatched queries are pushed to "no object"); it is
    :func:`mmaims.structures.tasks.supervision` of the sample type,
    the image's ``levels`` and ``supervise_all_levels`` (with it, the
    default, types 1-6 also supervise every other exhaustive level, so the
    association module sees pairs of levels).

    Pixels outside ``prompt_mask``, outside ``valid_region`` and inside a
    crowd region of a level are ignored by the loss of that level.

    **Rough prompts** (``rough_prompts``, off by default and in the configs
    that reproduce the paper): with probability ``prob``, the prompt of a
    prompted sample (types 4-8) is replaced by a rough version of it, one
    of ``perturbations`` drawn uniformly
    (:func:`mmaims.structures.prompt_perturbation.perturb_prompt`: a box,
    a dilated or eroded mask, a lasso polygon, brush strokes), as a person
    would draw it. The targets stay the true ones, and ``loss_region``
    (the exact prompt united with the rough one) replaces the prompt in
    the loss, so the pixels of the true children that the rough prompt
    missed are still supervised, and what it adds around them is
    supervised as background. ``prompt_rough`` says which prompts were
    roughened (for an MPE with ``rough_flag``). With
    ``loss_region='image'`` every prompted sample (types 4-8, roughened
    or not) is supervised over the whole
    image instead: outside the prompted region every child mask is
    background, so the model learns not to predict anything there, which
    lets inference keep whole masks (``test_cfg.prompt_clip='none'``)
    instead of cutting them at a prompt that missed a few pixels. The
    children of a prompt are all annotated wherever they are (they are the
    prompt's own), so this adds no false background; ``valid_region`` and
    crowd regions are still ignored. With ``loss_region_margin=k`` every
    prompted sample (types 4-8, roughened or not) is supervised over its
    prompted region (exact | rough) grown by ``k`` pixels: the ring just
    outside an exact prompt, which ``test_cfg.prompt_clip='margin'`` lets
    through at inference, is then background in training too.

    If the image cannot serve the type (e.g. a crop removed every relation)
    the transform returns None and the dataset loads another image.

    Required Keys:

    - gt_* / gt_part_* / gt_relation_* (:class:`LoadHierarchicalAnnotations`)
    - levels (list[str])
    - img_shape
    - sample_type (int, optional)

    Modified Keys:

    - gt_* / gt_part_* / gt_relation_* (restricted to the prompt)

    Added Keys:

    - prompt_mask (np.uint8 ``H x W``)
    - task (dict): ``sample_type``, ``prompt_type``, ``decoder``,
      ``supervision``
    - prompt_rough (bool): whether the prompt was roughened
    - loss_region (np.bool ``H x W``, only for a roughened prompt, or
      every prompted sample with ``loss_region='image'`` or
      ``loss_region_margin > 0``)

    Args:
        default_sample_type (int): Type used when the results carry no
            ``sample_type``. Defaults to 0 (evaluation).
        supervise_all_levels (bool): See above. Defaults to True.
        min_inside_ratio (float): Fraction of a parent-less part that must
            lie inside a partial prompt for it to be a target. Defaults to
            0.5.
        rough_prompts (dict, optional): ``dict(prob=float,
            perturbations=[...], loss_region='prompt' | 'image',
            loss_region_margin=int)``, see above; each perturbation a type
            of :data:`mmaims.structures.prompt_perturbation.PERTURBATIONS`
            or ``dict(type=..., **params)``; ``loss_region`` defaults to
            ``'prompt'`` (exact | rough), ``loss_region_margin`` to 0 (only
            with ``'prompt'``). Defaults to None (exact prompts, the
            paper).
    """

    def __init__(self,
                 default_sample_type: int = 0,
                 supervise_all_levels: bool = True,
                 min_inside_ratio: float = 0.5,
                 rough_prompts: Optional[dict] = None) -> None:
        self.default_sample_type = check_sample_type(default_sample_type)
        self.supervise_all_levels = supervise_all_levels
        self.min_inside_ratio = min_inside_ratio
        self.rough_prob = 0.0
        self.rough_perturbations = []
        self.rough_loss_region = 'prompt'
        self.loss_region_margin = 0
        if rough_prompts is not None:
            rough = dict(rough_prompts)
            unknown = set(rough) - {
                'prob', 'perturbations', 'loss_region', 'loss_region_margin'
            }
            self.rough_prob = float(rough.get('prob', 0.5))
            self.rough_perturbations = list(rough.get('perturbations', []))
            self.rough_loss_region = rough.get('loss_region', 'prompt')
            margin = self.loss_region_margin = rough.get(
                'loss_region_margin', 0)
            bad_margin = not isinstance(margin, int) or margin < 0 or (
                margin > 0 and self.rough_loss_region != 'prompt')
            if unknown or not 0.0 <= self.rough_prob <= 1.0 or \
                    not self.rough_perturbations or bad_margin or \
                    self.rough_loss_region not in ('prompt', 'image'):
                raise ValueError(
                    'SampleTaskPrompt: rough_prompts must be dict(prob in '
                    '[0, 1], perturbations=[at least one], loss_region='
                    "'prompt' | 'image', loss_region_margin=int >= 0, only "
                    f"with 'prompt'), got {rough_prompts!r}")
            for spec in self.rough_perturbations:
                perturbation_tag(spec)  # raises on an unknown one

    def transform(self, results: dict) -> Optional[dict]:
        """Sample the prompt of ``results['sample_type']``.

        Args:
            results (dict): Result dict with the annotations of all levels.

        Returns:
            dict | None: Results with ``prompt_mask`` and ``task``, or None
            if the image cannot serve the sample type.
        """
        sample_type = check_sample_type(
            results.get('sample_type', self.default_sample_type))
        levels = list(results.get('levels', []))
        h, w = results['img_shape'][:2]
        results[PROMPT_ROUGH_KEY] = False
        if sample_type == 0:
            results['prompt_mask'] = np.ones((h, w), dtype=np.uint8)
            results['task'] = eval_task(levels)
            return results

        prompt_type, decoder = SAMPLE_TYPES[sample_type]
        if prompt_type == 'full':
            if decoder not in levels:
                return None
            prompt = np.ones((h, w), dtype=np.uint8)
        elif prompt_type == 'partial':
            prompt = self._partial(results, decoder, levels)
        elif prompt_type == 'one_entity':
            prompt = self._one_entity(results)
        else:
            prompt = self._two_entities(results)
        if prompt is None:
            return None
        if prompt_type != 'full' and self.rough_prob > 0 and \
                np.random.rand() < self.rough_prob:
            exact = prompt.astype(bool)
            spec = self.rough_perturbations[np.random.randint(
                len(self.rough_perturbations))]
            rough = perturb_prompt(
                exact, spec, seed=int(np.random.randint(2**31 - 1)))
            results[LOSS_REGION_FIELD] = exact | rough
            results[PROMPT_ROUGH_KEY] = True
            prompt = rough.astype(np.uint8)
        if prompt_type != 'full' and self.rough_loss_region == 'image':
            results[LOSS_REGION_FIELD] = np.ones((h, w), dtype=bool)
        elif prompt_type != 'full' and self.loss_region_margin > 0:
            region = results.get(LOSS_REGION_FIELD, prompt.astype(bool))
            results[LOSS_REGION_FIELD] = perturb_prompt(
                region, dict(type='dilate', k=self.loss_region_margin))
        results['prompt_mask'] = prompt
        results['task'] = dict(
            sample_type=sample_type,
            prompt_type=prompt_type,
            decoder=decoder,
            supervision=supervision(sample_type, levels,
                                    self.supervise_all_levels))
        return results

    # ------------------------------------------------------------------
    def _partial(self, results: dict, decoder: str,
                 levels: list) -> Optional[np.ndarray]:
        entities = _targets(results, ENTITY)
        if len(entities) == 0:
            return None
        anchor = []
        if decoder != ENTITY and decoder not in levels:
            choices = _linked_entities(results, decoder, entities)
            if not choices:
                return None
            anchor = list(choices[np.random.randint(len(choices))])
        others = np.array([e for e in entities if e not in anchor])
        k = np.random.randint(max(len(anchor), 1), len(entities) + 1)
        extra = np.random.permutation(others)[:k - len(anchor)]
        chosen = np.concatenate([np.array(anchor, dtype=np.int64),
                                 extra.astype(np.int64)])
        return self._restrict(results, chosen)

    def _one_entity(self, results: dict) -> Optional[np.ndarray]:
        entities = _targets(results, ENTITY)
        choices = _linked_entities(results, PART, entities)
        if not choices:
            return None
        chosen = np.array(choices[np.random.randint(len(choices))])
        return self._restrict(results, chosen)

    def _two_entities(self, results: dict) -> Optional[np.ndarray]:
        entities = _targets(results, ENTITY)
        choices = _linked_entities(results, RELATION, entities)
        if not choices:
            return None
        chosen = np.array(choices[np.random.randint(len(choices))])
        return self._restrict(results, chosen)

    def _restrict(self, results: dict, chosen: np.ndarray) -> np.ndarray:
        """Keep the targets inside the prompt made of entity rows
        ``chosen``; return the prompt mask."""
        masks = results['gt_masks'].masks
        prompt = masks[chosen].any(axis=0).astype(np.uint8)
        n_e = num_instances(results, ENTITY)
        chosen_flag = np.zeros(n_e, dtype=bool)
        chosen_flag[chosen] = True
        ignore_e = np.asarray(results['gt_ignore_flags'], dtype=bool)

        if has_level(results, PART):
            link = results['gt_part_entity_index']
            ignore = np.asarray(results['gt_part_ignore_flags'], dtype=bool)
            keep = ignore.copy()
            has_parent = link >= 0
            keep[has_parent] |= chosen_flag[link[has_parent]]
            orphans = np.flatnonzero(~has_parent & ~ignore)
            if len(orphans):
                part_masks = results['gt_part_masks'].masks[orphans]
                area = part_masks.reshape(len(orphans), -1).sum(1)
                inside = (part_masks & prompt[None].astype(bool)).reshape(
                    len(orphans), -1).sum(1)
                keep[orphans] = inside >= self.min_inside_ratio * \
                    np.maximum(area, 1)
            keep_instances(results, PART, keep)
        if has_level(results, RELATION):
            link = results['gt_relation_entity_index']
            ignore = np.asarray(
                results['gt_relation_ignore_flags'], dtype=bool)
            both = (link >= 0).all(axis=1)
            keep = ignore.copy()
            keep[both] |= chosen_flag[link[both]].all(axis=1)
            keep_instances(results, RELATION, keep)
        # remove unchosen entities last: the links above use old rows
        keep_instances(results, ENTITY, chosen_flag | ignore_e)
        return prompt

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'default_sample_type={self.default_sample_type}, '
                f'supervise_all_levels={self.supervise_all_levels}, '
                f'min_inside_ratio={self.min_inside_ratio})')


def _targets(results: dict, level: str) -> np.ndarray:
    """Rows of the non-crowd instances of ``level``."""
    if not has_level(results, level):
        return np.zeros(0, dtype=np.int64)
    flags = np.asarray(results[f'{LEVEL_PREFIX[level]}ignore_flags'],
                       dtype=bool)
    return np.flatnonzero(~flags)


def _linked_entities(results: dict, level: str, entities: np.ndarray) -> list:
    """Entity rows a non-crowd ``level`` instance links to: one-tuples of
    parents with a part, or (subject, object) pairs of relations."""
    targets = _targets(results, level)
    if len(targets) == 0:
        return []
    is_entity = np.zeros(num_instances(results, ENTITY) + 1, dtype=bool)
    is_entity[entities] = True
    links = results[f'{LEVEL_PREFIX[level]}entity_index'][targets]
    if level == PART:
        return sorted({(int(e), ) for e in links if e >= 0 and is_entity[e]})
    pairs = []
    for s, o in links.tolist():
        if s >= 0 and o >= 0 and is_entity[s] and is_entity[o] and s != o:
            pairs.append((s, o))
    return pairs
