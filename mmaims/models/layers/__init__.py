# Copyright (c) mmaims contributors. All rights reserved.
from .mask_prompt_encoder import MaskPromptEncoder
from .task_complementarity_module import TaskComplementarityModule

__all__ = ['MaskPromptEncoder', 'TaskComplementarityModule']
