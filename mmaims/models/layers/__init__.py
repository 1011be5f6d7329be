# Copyright (c) mmaims contributors. All rights reserved.
from .crop_batch_decoder import BatchDecoderOutput, CropBatchDecoder
from .crop_query_association import CropQueryAssociation
from .image_guided_upsampler import ImageGuidedMaskUpsampler
from .level_decoder import DecoderOutput, DecoderState, LevelDecoder
from .mask_prompt_encoder import MaskPromptEncoder
from .task_complementarity_module import TaskComplementarityModule

__all__ = [
    'BatchDecoderOutput', 'CropBatchDecoder', 'CropQueryAssociation',
    'DecoderOutput', 'DecoderState', 'ImageGuidedMaskUpsampler',
    'LevelDecoder', 'MaskPromptEncoder',
    'TaskComplementarityModule'
]
