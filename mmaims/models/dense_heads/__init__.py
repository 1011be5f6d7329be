# Copyright (c) mmaims contributors. All rights reserved.
from .association_head import AssociationHead
from .crop_former_batch_head import CropFormerBatchHead, stack_view_targets
from .multi_level_decoder_head import MultiLevelDecoderHead

__all__ = [
    'AssociationHead', 'CropFormerBatchHead', 'MultiLevelDecoderHead',
    'stack_view_targets'
]
