# Copyright (c) mmaims contributors. All rights reserved.
"""Losses of mmaims.

AIMS's own losses are mmdet's: the decoders (eq. 4) use
``CrossEntropyLoss`` and ``DiceLoss`` through
:class:`~mmaims.models.MultiLevelDecoderHead`, the association module (eq.
8) ``CrossEntropyLoss`` with sigmoid through
:class:`~mmaims.models.AssociationHead`, which balances positive and
negative pairs. :class:`OverlapSuppressionLoss` is the overlap suppression
of open-world entity segmentation (Sec. 5.3), an optional extra loss of the
entity and part decoders (``MultiLevelDecoderHead(loss_overlap=...)``). A
new loss module is registered here, in ``MODELS``.
"""
from .overlap_suppression_loss import OverlapSuppressionLoss

__all__ = ['OverlapSuppressionLoss']
