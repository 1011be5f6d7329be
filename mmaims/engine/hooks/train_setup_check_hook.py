# Copyright (c) mmaims contributors. All rights reserved.
import logging
from typing import List, Optional, Sequence, Tuple

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmaims.registry import HOOKS
from mmaims.structures.tasks import supervision

#: what the stop-at-start message asks the user to set
WEIGHTS_HELP = (
    "set model.backbone.init_cfg=dict(type='Pretrained', checkpoint=...) "
    '(ImageNet weights, as the paper configs do; a local path works), or '
    'load_from=... (e.g. COCO-Entity weights converted with '
    'tools/model_converters/mask2former_to_aims.py), or train from random '
    'weights on purpose with model.from_scratch=True')


@HOOKS.register_module()
class TrainSetupCheckHook(Hook):
    """Stop or warn, before the first iteration, when a training run would
    silently train something else than its config means.

    Like mmdet's ``NumClassCheckHook`` it compares the model with the
    training set once, at ``before_train`` (after weights are initialised
    and loaded):

    - **Initial weights** (error). An :class:`~mmaims.models.AIMS` model
      whose backbone has no ``Pretrained`` ``init_cfg`` (nor the model
      one), in a run with neither ``load_from`` nor ``resume``, trains from
      random weights. The paper starts from pretrained weights (Sec. 4), so
      this is refused with a message naming what to set, unless the model
      says ``from_scratch=True`` (which also makes the backbone trainable
      from scratch, see :class:`AIMS`).
    - **Association targets** (warning). With the association module on,
      each of its pairs (entity-part, relation-entity) is trained only on
      samples that supervise both decoders at their own levels. The hook
      evaluates :func:`~mmaims.structures.tasks.supervision` for
      every enabled sample type and every ``levels`` combination of its
      pool, with the ``supervise_all_levels`` of the pipeline's
      ``SampleTaskPrompt``, and warns for each pair that no sample can
      train (e.g. ``supervise_all_levels=False``, or only sample types 7
      and 8, which supervise one decoder each).

    Args:
        check_weights (bool): Run the initial-weights check. Defaults to
            True.
        check_association (bool): Run the association-targets check.
            Defaults to True.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 check_weights: bool = True,
                 check_association: bool = True) -> None:
        self.check_weights = check_weights
        self.check_association = check_association

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if not hasattr(model, 'from_scratch'):
            return  # not an AIMS model
        if self.check_weights:
            source = initial_weights(model, runner._load_from, runner._resume)
            if source is None:
                raise RuntimeError(
                    'The model would train from random weights: its backbone '
                    'has no pretrained init_cfg and the run has neither '
                    f'load_from nor resume. To fix it, {WEIGHTS_HELP}.')
            print_log(f'Initial weights: {source}', logger='current')
        if self.check_association and \
                getattr(model, 'association_head', None) is not None:
            dataset = getattr(runner.train_dataloader, 'dataset', None)
            for message in association_target_problems(
                    model.association_head.pairs, dataset):
                print_log(message, logger='current', level=logging.WARNING)


def _is_pretrained(init_cfg) -> bool:
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(
        isinstance(c, dict) and c.get('type') == 'Pretrained'
        and c.get('checkpoint') for c in cfgs)


def initial_weights(model, load_from: Optional[str],
                    resume) -> Optional[str]:
    """Where the weights of a training run come from, or None if the model
    starts from random weights without ``from_scratch``.

    Args:
        model: The (unwrapped) model.
        load_from (str, optional): The runner's ``load_from``.
        resume (bool | str): The runner's ``resume``.

    Returns:
        str | None: A description of the weights' origin.
    """
    if resume:
        return 'resumed checkpoint'
    if load_from:
        return f'load_from={load_from}'
    if _is_pretrained(getattr(model, 'init_cfg', None)):
        return f'model init_cfg {model.init_cfg}'
    backbone_init = getattr(getattr(model, 'backbone', None), 'init_cfg',
                            None)
    if _is_pretrained(backbone_init):
        return f'backbone init_cfg {backbone_init}'
    if getattr(model, 'from_scratch', False):
        return 'random weights (model.from_scratch=True)'
    return None


def association_target_problems(pairs: Sequence[Tuple[str, str, str]],
                                dataset) -> List[str]:
    """The association pairs that no sample of ``dataset`` can train.

    Args:
        pairs (Sequence[tuple[str, str, str]]): ``(key, parent, child)`` of
            the association head.
        dataset: The training set; only an ``AIMSTaskDataset`` whose
            pipeline holds a ``SampleTaskPrompt`` is checked (anything else
            gives no message).

    Returns:
        list[str]: One warning per pair without targets.
    """
    if dataset is None or not hasattr(dataset, 'pools'):
        return []
    prompt_transform = None
    for transform in getattr(dataset.pipeline, 'transforms', []):
        if hasattr(transform, 'supervise_all_levels'):
            prompt_transform = transform
    if prompt_transform is None:
        return []
    all_levels = prompt_transform.supervise_all_levels
    # which pairs some (sample type, image levels) trains; stops as soon as
    # every pair is trained, so a sound configuration reads a few images
    # of a large training set, not every image of every pool
    untrained = {key: (parent, child) for key, parent, child in pairs}
    seen, levels_of = set(), {}
    for sample_type, pool in dataset.pools.items():
        for indices in pool.values():
            for index in indices:
                index = int(index)
                if index not in levels_of:  # an image is in several pools
                    levels_of[index] = tuple(
                        dataset.get_data_info(index)['levels'])
                combo = (sample_type, levels_of[index])
                if combo in seen:
                    continue
                seen.add(combo)
                sup = supervision(sample_type, combo[1], all_levels)
                for key in [
                        k for k, (p, c) in untrained.items()
                        if _trains_pair(sup, p, c)
                ]:
                    del untrained[key]
                if not untrained:
                    return []
    problems = []
    for key, (parent, child) in untrained.items():
        problems.append(
            f'The association module gets no targets for "{key}": no '
            f'enabled sample type (sample_types='
            f'{tuple(sorted(dataset.pools))}, '
            f'supervise_all_levels={all_levels}) supervises both the '
            f'{parent} and the {child} decoder at their own levels on '
            'any training image, so this pair is never trained. Set '
            'supervise_all_levels=True in SampleTaskPrompt, enable a '
            'full- or partial-image sample type on images that list '
            'both levels, or switch the module off '
            '(model.association_head=None).')
    return problems


def _trains_pair(sup: dict, parent: str, child: str) -> bool:
    return all(
        sup.get(decoder, {}).get('level') == decoder
        for decoder in (parent, child))
