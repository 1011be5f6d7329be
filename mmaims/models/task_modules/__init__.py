# Copyright (c) mmaims contributors. All rights reserved.
"""Task modules (assigners, samplers, match costs) of mmaims: none of its
own yet.

The decoders match queries to targets with mmdet's ``HungarianAssigner``
(``ClassificationCost``, ``CrossEntropyLossCost``, ``DiceCost``) and
``MaskPseudoSampler``, built from ``train_cfg`` by
:class:`~mmaims.models.MultiLevelDecoderHead` on sampled points inside each
sample's loss region. A new one is registered here, in ``TASK_UTILS``.
"""
