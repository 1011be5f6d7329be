# Copyright (c) mmaims contributors. All rights reserved.
"""Task modules (assigners, samplers, match costs) of mmaims.

The decoders match queries to targets with mmdet's ``HungarianAssigner``
(``ClassificationCost``, ``CrossEntropyLossCost``, ``DiceCost``) and
``MaskPseudoSampler``, built from ``train_cfg`` by
:class:`~mmaims.models.MultiLevelDecoderHead` on sampled points inside each
sample's loss region. :class:`JointViewHungarianAssigner` is CropFormer's
batch-level matching, which sums the mask costs of a query over the full
image and its crops (:class:`~mmaims.models.CropFormerBatchHead`). A new
one is registered here, in ``TASK_UTILS``.
"""
from .joint_view_hungarian_assigner import JointViewHungarianAssigner

__all__ = ['JointViewHungarianAssigner']
