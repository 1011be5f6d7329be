# Copyright (c) mmaims contributors. All rights reserved.
"""Losses of mmaims: none of its own yet.

AIMS's losses are mmdet's: the decoders (eq. 4) use ``CrossEntropyLoss``
and ``DiceLoss`` through :class:`~mmaims.models.MultiLevelDecoderHead`, the
association module (eq. 8) ``CrossEntropyLoss`` with sigmoid through
:class:`~mmaims.models.AssociationHead`, which balances positive and
negative pairs. A new loss module is registered here, in ``MODELS``.
"""
