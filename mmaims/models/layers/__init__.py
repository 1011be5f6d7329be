# Copyright (c) mmaims contributors. All rights reserved.
from .level_decoder import DecoderOutput, DecoderState, LevelDecoder
from .mask_prompt_encoder import MaskPromptEncoder
from .task_complementarity_module import TaskComplementarityModule

__all__ = [
    'DecoderOutput', 'DecoderState', 'LevelDecoder', 'MaskPromptEncoder',
    'TaskComplementarityModule'
]
