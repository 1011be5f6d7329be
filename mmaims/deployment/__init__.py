# Copyright (c) mmaims contributors. All rights reserved.
"""Export of AIMS to ONNX (docs/deployment.md). The ONNX Runtime runner,
which needs neither PyTorch nor mmaims, is
``tools/deployment/ort_runner.py``."""
from .export_modules import (ImageEncoderForExport, PromptDecoderForExport,
                             one_step_decoder, prompt_decoder)
from .onnx_export import (IMAGE_ENCODER_FILE, META_FILE, ONE_STEP_FILE,
                          export_onnx, load_for_export, preprocess_meta,
                          prompt_file, verify_export)

__all__ = [
    'ImageEncoderForExport', 'PromptDecoderForExport', 'one_step_decoder',
    'prompt_decoder', 'export_onnx', 'load_for_export', 'preprocess_meta',
    'prompt_file', 'verify_export', 'IMAGE_ENCODER_FILE', 'META_FILE',
    'ONE_STEP_FILE'
]
