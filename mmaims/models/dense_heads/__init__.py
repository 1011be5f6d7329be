# Copyright (c) mmaims contributors. All rights reserved.
from .association_head import AssociationHead
from .crop_former_batch_head import CropFormerBatchHead, stack_view_targets
from .entity_condinst_head import (KERNEL_BANK_PATHS, KERNEL_BANK_WEIGHTS,
                                   EntityBboxHead, EntityMaskHead)
from .multi_level_decoder_head import MultiLevelDecoderHead

__all__ = [
    'AssociationHead', 'CropFormerBatchHead', 'EntityBboxHead',
    'EntityMaskHead', 'KERNEL_BANK_PATHS', 'KERNEL_BANK_WEIGHTS',
    'MultiLevelDecoderHead', 'stack_view_targets'
]
