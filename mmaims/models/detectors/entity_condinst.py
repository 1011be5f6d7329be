# Copyright (c) mmaims contributors. All rights reserved.
from typing import Dict

import torch
from mmdet.models.detectors import CondInst
from mmdet.structures import SampleList
from torch import Tensor

from mmaims.registry import MODELS
from mmaims.structures import make_nonoverlap
from .aims import scratch_backbone_cfg


@MODELS.register_module()
class EntityCondInst(CondInst):
    """The entity segmentation framework of open-world entity segmentation
    (paper 002, Sec. 5): mmdet's CondInst with a class-agnostic
    :class:`~mmaims.models.EntityBboxHead` and an
    :class:`~mmaims.models.EntityMaskHead` (global kernel bank, overlap
    suppression).

    Inference (Sec. 5.4): detections scored ``sqrt(centerness x
    entityness)``, box NMS, one mask per kept detection; with
    ``test_cfg.nonoverlap`` (default True) the masks are then made
    non-overlapping, every pixel kept by its highest-scoring mask (the
    entity id map of Sec. 5.4, the rule of the AP^e metric and of
    :class:`~mmaims.models.seg_heads.AIMSPostProcessor`); masks left empty
    are dropped. ``pred_instances`` holds the entity level
    (docs/data_sample.md section 2), so ``FederatedMetric``, the
    inferencer and the demo read it as they read AIMS's entities.

    The data are those of the AIMS configs (``PackAIMSInputs``,
    ``AIMSDataPreprocessor``): ``gt_instances`` are the entities, crowd
    entities (``ignored_instances``) are not targets, and the
    ``valid_region`` reaches the overlap suppression loss.

    Args:
        from_scratch (bool): Train the backbone from random weights on
            purpose, as :class:`~mmaims.models.AIMS`'s argument of that
            name (:func:`~mmaims.models.detectors.aims.scratch_backbone_cfg`:
            no ``init_cfg``, trainable norms, no zero-initialised residual
            blocks); without it ``TrainSetupCheckHook`` stops a training
            run that has no backbone weights. Defaults to False.
        **kwargs: The arguments of mmdet's ``CondInst``.
    """

    #: one-step entity segmentation only: no prompt decoders (read by the
    #: inferencer's outputs)
    prompt_output_levels: Dict[str, str] = {}

    def __init__(self, *args, from_scratch: bool = False, **kwargs) -> None:
        if from_scratch:
            kwargs['backbone'] = scratch_backbone_cfg(kwargs['backbone'])
        super().__init__(*args, **kwargs)
        self.from_scratch = from_scratch

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """CondInst's prediction, then the non-overlap rule.

        Returns:
            list[DetDataSample]: ``pred_instances`` with ``masks`` (bool
            (N, H, W)), ``scores``, ``labels`` (zeros) and ``bboxes``,
            sorted by decreasing score.
        """
        samples = super().predict(
            batch_inputs, batch_data_samples, rescale=rescale)
        nonoverlap = self.test_cfg.get('nonoverlap', True) \
            if self.test_cfg is not None else True
        for sample in samples:
            inst = sample.pred_instances
            order = inst.scores.argsort(descending=True, stable=True)
            inst = inst[order]
            if nonoverlap and len(inst):
                masks = make_nonoverlap(inst.masks.bool())
                inst.masks = masks
                inst = inst[masks.flatten(1).any(1)]
            inst.labels = torch.zeros_like(inst.labels)
            sample.pred_instances = inst
        return samples
