# Copyright (c) mmaims contributors. All rights reserved.
"""ONNX export of an AIMS model: the image encoder, the decoder pass of
one-step inference and one decoder pass per prompt decoder, plus the JSON
file that tells a runner how to preprocess an image and post-process the
outputs (docs/deployment.md; the runner is
``tools/deployment/ort_runner.py``).

The graphs are traced with PyTorch's TorchScript-based exporter
(``dynamo=False``): mmcv's multi-scale deformable attention takes its
pure-PyTorch path on CPU (the model must be on the CPU; ``grid_sample``
needs opset >= 16) and mmdet's pixel decoder takes its level sizes from
the traced tensor shapes, so one trace serves every input size.
"""
import copy
import json
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx
import torch
import torch.nn as nn
from mmengine.config import Config

from mmaims.structures import LEVELS
from mmaims.structures.fields import LINK_TYPES
from mmaims.structures.prompt_geometry import INSIDE_FRACTION
from mmaims.structures.tasks import DEFAULT_PROMPT_TYPES
from .export_modules import (IMAGE, MASK_FEATURES, PROMPT,
                             ImageEncoderForExport, PromptDecoderForExport,
                             assoc_name, cls_name, mask_name, memory_names,
                             one_step_decoder, prompt_decoder)

#: Version of the layout of :data:`META_FILE`; a runner refuses others.
META_VERSION = 1
#: The file that describes the exported graphs, in the output folder.
META_FILE = 'aims_onnx.json'
IMAGE_ENCODER_FILE = 'image_encoder.onnx'
ONE_STEP_FILE = 'decoder_one_step.onnx'
#: The lowest opset that has ``GridSample`` (deformable attention).
MIN_OPSET = 16
DEFAULT_OPSET = 17

#: Test-pipeline transforms that do nothing to an image at inference
#: (file loading and annotations; the runner reads the image itself).
INFERENCE_NOOP_TRANSFORMS = ('LoadImageFromFile', 'LoadImageFromNDArray',
                             'InferencerLoader', 'LoadAnnotations',
                             'LoadHierarchicalAnnotations',
                             'LoadDrillDownPrompts', 'SampleTaskPrompt',
                             'FilterHierarchicalAnnotations', 'PackAIMSInputs',
                             'PackDetInputs')
RESIZE_TRANSFORMS = ('Resize', 'HierarchicalResize')


def prompt_file(decoder: str) -> str:
    """File name of the decoder pass of a prompt of ``decoder``."""
    return f'decoder_{decoder}.onnx'


def _transform_name(transform: dict) -> str:
    kind = transform['type']
    name = kind if isinstance(kind, str) else kind.__name__
    return name.split('.')[-1]


def preprocess_meta(model: nn.Module, cfg: Config) -> dict:
    """What the test pipeline and the data preprocessor do to an image,
    for a runner without mmcv.

    Args:
        model (nn.Module): The AIMS model (its ``data_preprocessor``).
        cfg (Config): The config (``test_dataloader.dataset.pipeline``).

    Returns:
        dict: ``resize`` (``scale`` as (w, h) or None, ``keep_ratio``,
        ``interpolation``) and ``mean``, ``std`` (None: no
        normalisation), ``bgr_to_rgb``, ``pad_size_divisor``,
        ``pad_value``.

    Raises:
        ValueError: A test pipeline with a transform the runner does not
            reproduce, more than one resize, or a resize by
            ``scale_factor`` or another backend than cv2.
    """
    try:
        pipeline = cfg.test_dataloader.dataset.pipeline
    except AttributeError as e:
        raise ValueError('the config has no test_dataloader.dataset.pipeline'
                         '; the export reads its resize') from e
    resize = dict(scale=None, keep_ratio=True, interpolation='bilinear')
    resizes = 0
    for transform in pipeline:
        name = _transform_name(transform)
        if name in INFERENCE_NOOP_TRANSFORMS:
            continue
        if name not in RESIZE_TRANSFORMS:
            raise ValueError(
                f'the test pipeline has {name}, which the ONNX runner does '
                f'not reproduce (it knows {RESIZE_TRANSFORMS} and the '
                f'transforms that do nothing at inference)')
        resizes += 1
        if transform.get('scale_factor') is not None or \
                transform.get('scale') is None:
            raise ValueError(f'{name} without a fixed scale (scale_factor '
                             'or no scale) is not supported by the runner')
        if transform.get('backend', 'cv2') != 'cv2':
            raise ValueError(f'{name}: only backend="cv2" is supported')
        scale = transform['scale']
        scale = [int(scale), int(scale)] if isinstance(
            scale, (int, float)) else [int(s) for s in scale]
        resize = dict(
            scale=scale,
            keep_ratio=bool(transform.get('keep_ratio', False)),
            interpolation=transform.get('interpolation', 'bilinear'))
    if resizes > 1:
        raise ValueError('the test pipeline resizes more than once')
    pre = model.data_preprocessor
    normalize = getattr(pre, '_enable_normalize', False)
    return dict(
        resize=resize,
        mean=pre.mean.flatten().tolist() if normalize else None,
        std=pre.std.flatten().tolist() if normalize else None,
        bgr_to_rgb=bool(getattr(pre, '_channel_conversion', False)),
        pad_size_divisor=int(pre.pad_size_divisor),
        pad_value=float(pre.pad_value))


def _export(module: nn.Module, args: Tuple[torch.Tensor, ...], path: str,
            input_names: Sequence[str], output_names: Sequence[str],
            dynamic_axes: Dict[str, Dict[int, str]], opset: int) -> None:
    """``torch.onnx.export`` with the TorchScript-based exporter.

    The tracer warns about every Python bool / int it records (shape
    checks, the levels' loop of the deformable attention); they are
    constants for every input size (the loops run once per feature level,
    the checks hold for any padded size), and the tests compare the graphs
    with the model at two sizes, so the warnings are silenced here.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        warnings.filterwarnings('ignore', category=DeprecationWarning)
        warnings.filterwarnings('ignore', category=FutureWarning)
        warnings.filterwarnings(
            'ignore', message='.*legacy TorchScript-based ONNX export.*')
        warnings.filterwarnings('ignore', message='.*torch.meshgrid.*')
        with torch.no_grad():
            torch.onnx.export(
                module,
                args,
                path,
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_axes=dynamic_axes,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False)
    onnx.checker.check_model(path)


def _feature_axes(num_levels: int) -> Dict[str, Dict[int, str]]:
    axes = {MASK_FEATURES: {2: 'height_4', 3: 'width_4'}}
    for i, name in enumerate(memory_names(num_levels)):
        axes[name] = {2: f'{name}_height', 3: f'{name}_width'}
    return axes


def example_prompt(shape: Sequence[int]) -> torch.Tensor:
    """A (1, 1, H, W) float prompt covering the middle of the image."""
    h, w = (int(s) for s in shape)
    prompt = torch.zeros((1, 1, h, w))
    prompt[..., h // 4:h - h // 4, w // 8:w - w // 4] = 1
    return prompt


def export_image_encoder(model: nn.Module,
                         path: str,
                         image_size: Sequence[int] = (256, 256),
                         opset: int = DEFAULT_OPSET) -> List[str]:
    """Export the image encoder with dynamic height and width.

    Args:
        model (nn.Module): An AIMS model on the CPU, in eval mode.
        path (str): The ``.onnx`` file to write.
        image_size (Sequence[int]): ``(H, W)`` of the traced example,
            multiples of the pad size divisor.
        opset (int): ONNX opset, >= 16.

    Returns:
        list[str]: The output names.
    """
    encoder = ImageEncoderForExport(model).eval()
    image = torch.randn(
        1, 3, *image_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        num_levels = len(encoder(image)) - 1
    outputs = [MASK_FEATURES] + memory_names(num_levels)
    axes = {IMAGE: {2: 'height', 3: 'width'}, **_feature_axes(num_levels)}
    _export(encoder, (image, ), path, [IMAGE], outputs, axes, opset)
    return outputs


def export_decoder_pass(module: PromptDecoderForExport,
                        feats: Sequence[torch.Tensor],
                        prompt: torch.Tensor,
                        path: str,
                        opset: int = DEFAULT_OPSET) -> List[str]:
    """Export a decoder pass with dynamic height and width.

    Args:
        module (PromptDecoderForExport): The pass.
        feats (Sequence[Tensor]): Example image features (mask features,
            then the memories), from the image encoder.
        prompt (Tensor): Example prompt (1, 1, H, W).
        path (str): The ``.onnx`` file to write.
        opset (int): ONNX opset, >= 16.

    Returns:
        list[str]: The input names.
    """
    num_levels = len(feats) - 1
    inputs = [MASK_FEATURES] + memory_names(num_levels) + [PROMPT]
    axes = _feature_axes(num_levels)
    axes[PROMPT] = {2: 'height', 3: 'width'}
    for name in module.output_names:
        if name.endswith('_mask_logits'):
            axes[name] = {2: 'height_4', 3: 'width_4'}
    _export(module.eval(), (*feats, prompt), path, inputs, module.output_names,
            axes, opset)
    return inputs


def _check_model(model: nn.Module) -> None:
    if any(p.is_cuda for p in model.parameters()):
        raise ValueError('export the model from the CPU (model.cpu()): '
                         'mmcv\'s deformable attention is traced through its '
                         'pure-PyTorch path, which it takes for CPU tensors')
    if model.training:
        raise ValueError('put the model in eval mode before the export')
    encoder = model.prompt_encoder
    if encoder is not None and encoder.with_rough_flag:
        # the graphs take the prompt mask only: every prompt would run as
        # exact, whatever the application knows of it
        raise NotImplementedError(
            'the rough-prompt flag (prompt_encoder.rough_flag) is not '
            'exported: the decoder graphs have no input for it')


def export_onnx(model: nn.Module,
                cfg: Config,
                out_dir: str,
                image_size: Sequence[int] = (256, 256),
                opset: int = DEFAULT_OPSET,
                prompt_decoders: Optional[Sequence[str]] = None,
                verify: bool = True) -> dict:
    """Export an AIMS model for ONNX Runtime (docs/deployment.md).

    Writes to ``out_dir``: :data:`IMAGE_ENCODER_FILE`,
    :data:`ONE_STEP_FILE`, ``decoder_{name}.onnx`` for every prompt
    decoder, and :data:`META_FILE` (the returned dict).

    Args:
        model (nn.Module): An AIMS model on the CPU, in eval mode.
        cfg (Config): Its config (the test pipeline).
        out_dir (str): Output folder (created).
        image_size (Sequence[int]): ``(H, W)`` of the traced example; any
            multiple of the pad size divisor. Defaults to (256, 256).
        opset (int): ONNX opset, >= 16. Defaults to 17.
        prompt_decoders (Sequence[str], optional): Decoders to export a
            prompt pass for. Defaults to every decoder of the head.
        verify (bool): Run every graph with ONNX Runtime at the traced size
            and at a second size (one divisor taller) and record the
            largest absolute difference to PyTorch in the meta file's
            ``verification``. Defaults to True.

    Returns:
        dict: The content of :data:`META_FILE`.
    """
    _check_model(model)
    if opset < MIN_OPSET:
        raise ValueError(f'opset {opset} has no GridSample (needed by the '
                         f'deformable attention); use >= {MIN_OPSET}')
    pre = preprocess_meta(model, cfg)
    divisor = pre['pad_size_divisor']
    image_size = tuple(int(s) for s in image_size)
    if len(image_size) != 2 or any(s <= 0 or s % max(divisor, 1)
                                   for s in image_size):
        raise ValueError(f'image_size {image_size} must be two multiples of '
                         f'the pad size divisor {divisor}')
    names = tuple(model.decode_head.decoder_names)
    if prompt_decoders is None:
        prompt_decoders = names
    unknown = [d for d in prompt_decoders if d not in names]
    if unknown:
        raise ValueError(f'unknown prompt decoders {unknown}; the model has '
                         f'{list(names)}')
    os.makedirs(out_dir, exist_ok=True)

    encoder_outputs = export_image_encoder(
        model, osp.join(out_dir, IMAGE_ENCODER_FILE), image_size, opset)
    with torch.no_grad():
        feats = ImageEncoderForExport(model)(
            torch.randn(
                1, 3, *image_size, generator=torch.Generator().manual_seed(1)))
    prompt = example_prompt(image_size)

    one_step = one_step_decoder(model)
    inputs = export_decoder_pass(one_step, feats, prompt,
                                 osp.join(out_dir, ONE_STEP_FILE), opset)
    link_names = {t.key: t.name for t in LINK_TYPES}
    if one_step.pairs:
        links = [
            dict(
                type=link_names.get(key, key),
                parent=parent,
                child=child,
                output=assoc_name(key))
            for key, parent, child in one_step.pairs
        ]
    else:
        # without the association module the post-processor links by mask
        # overlap the levels that are both reported
        links = [
            dict(type=t.name, parent=t.parent, child=t.child, output=None)
            for t in LINK_TYPES if t.parent in names and t.child in names
        ]
    one_step_meta = dict(
        file=ONE_STEP_FILE,
        runs=list(one_step.decoders or names),
        outputs={
            d: dict(cls=cls_name(d), mask=mask_name(d))
            for d in one_step.outputs
        },
        links=links)
    prompt_passes = {}
    for decoder in prompt_decoders:
        module = prompt_decoder(model, decoder)
        export_decoder_pass(module, feats, prompt,
                            osp.join(out_dir, prompt_file(decoder)), opset)
        prompt_passes[decoder] = dict(
            file=prompt_file(decoder),
            runs=list(module.decoders or names),
            outputs={
                decoder: dict(cls=cls_name(decoder), mask=mask_name(decoder))
            },
            level=model._prompt_output_level(decoder),
            prompt_type=DEFAULT_PROMPT_TYPES.get(decoder))
    meta = dict(
        version=META_VERSION,
        opset=opset,
        traced_image_size=list(image_size),
        preprocess=pre,
        image_encoder=dict(
            file=IMAGE_ENCODER_FILE, inputs=[IMAGE], outputs=encoder_outputs),
        decoder_inputs=inputs,
        decoders=list(names),
        levels=list(LEVELS),
        one_step=one_step_meta,
        prompt=prompt_passes,
        post_processing=dict(
            model.post_processor.resolved_test_cfg(LEVELS),
            inside_fraction=INSIDE_FRACTION),
        prompt_snap=model.prompt_snap,
        prompt_decoder_subset=model.prompt_decoder_subset)
    if verify:
        meta['verification'] = verify_export(model, out_dir, meta)
    with open(osp.join(out_dir, META_FILE), 'w') as f:
        json.dump(meta, f, indent=2)
    return meta


def verify_export(model: nn.Module, out_dir: str, meta: dict) -> dict:
    """Largest absolute difference between every exported graph (ONNX
    Runtime, CPU) and the PyTorch modules, at the traced size and at one
    pad divisor taller (dynamic shape), on random images.

    Args:
        model (nn.Module): The exported model.
        out_dir (str): The export folder.
        meta (dict): The export's meta dict.

    Returns:
        dict: ``{"HxW": {file: {output: max_abs_diff}}}``.
    """
    import onnxruntime as ort
    h, w = meta['traced_image_size']
    divisor = max(meta['preprocess']['pad_size_divisor'], 1)
    files = [meta['one_step']['file']
             ] + [p['file'] for p in meta['prompt'].values()]
    modules = [one_step_decoder(model)
               ] + [prompt_decoder(model, d) for d in meta['prompt']]
    encoder = ImageEncoderForExport(model).eval()
    sessions = {
        f:
        ort.InferenceSession(
            osp.join(out_dir, f), providers=['CPUExecutionProvider'])
        for f in [meta['image_encoder']['file']] + files
    }
    report = {}
    generator = torch.Generator().manual_seed(0)
    for size in ((h, w), (h + divisor, w)):
        image = torch.randn(1, 3, *size, generator=generator)
        prompt = example_prompt(size)
        with torch.no_grad():
            feats = encoder(image)
        diffs = {}
        got = sessions[meta['image_encoder']['file']].run(
            None, {IMAGE: image.numpy()})
        diffs[meta['image_encoder']['file']] = _max_diffs(
            meta['image_encoder']['outputs'], got, feats)
        feed = dict(
            zip(meta['decoder_inputs'],
                [t.numpy() for t in feats] + [prompt.numpy()]))
        for f, module in zip(files, modules):
            with torch.no_grad():
                expected = module(*feats, prompt)
            got = sessions[f].run(None, feed)
            diffs[f] = _max_diffs(module.output_names, got, expected)
        report[f'{size[0]}x{size[1]}'] = diffs
    return report


def _max_diffs(names: Sequence[str], got: Sequence[np.ndarray],
               expected: Sequence[torch.Tensor]) -> Dict[str, float]:
    return {
        name: float(np.abs(g - e.numpy()).max()) if g.size else 0.0
        for name, g, e in zip(names, got, expected)
    }


def load_for_export(
        config: str,
        checkpoint: Optional[str],
        cfg_options: Optional[dict] = None) -> Tuple[nn.Module, Config]:
    """Build an AIMS model on the CPU in eval mode and load its weights
    (read weights-only, as the inferencer does).

    Args:
        config (str): Config file.
        checkpoint (str, optional): Checkpoint; None keeps the random
            initialisation (tests only).
        cfg_options (dict, optional): Config overrides.

    Returns:
        tuple[nn.Module, Config]: The model and its config.
    """
    from mmengine.model.utils import revert_sync_batchnorm
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    from mmaims.registry import MODELS
    from mmaims.utils import (register_all_modules,
                              register_safe_checkpoint_loader)
    register_all_modules(init_default_scope=False)
    register_safe_checkpoint_loader()
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmaims'))
    model = MODELS.build(copy.deepcopy(cfg.model))
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu', logger=None)
    else:
        model.init_weights()
    model = revert_sync_batchnorm(model)
    return model.cpu().eval(), cfg
