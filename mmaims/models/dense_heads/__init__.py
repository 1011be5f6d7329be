# Copyright (c) mmaims contributors. All rights reserved.
from .association_head import AssociationHead
from .multi_level_decoder_head import MultiLevelDecoderHead

__all__ = ['AssociationHead', 'MultiLevelDecoderHead']
