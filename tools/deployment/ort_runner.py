# Copyright (c) mmaims contributors. All rights reserved.
"""Run an AIMS model exported by ``tools/deployment/export_onnx.py`` with
ONNX Runtime: one-step inference on an image and drill-down on a mask.

Needs onnxruntime, numpy, opencv-python (image reading and the resize of
the test pipeline) and pycocotools (RLE); not PyTorch, mmcv, mmdet or
mmaims, so this file can be copied next to the exported folder and run
alone. It reproduces, in numpy, what mmaims does around the two graphs
(docs/deployment.md lists what it does not):

- the test pipeline's resize (OpenCV, as mmcv's ``imrescale``), the data
  preprocessor's normalisation and zero padding to the size divisor;
- the prompt of one-step inference (1 on the image, 0 on the padding) and
  a drill-down prompt brought to the network input
  (``mmaims.structures.prompt_geometry.prompt_to_input``: bilinear resize
  to the resized image, threshold 0.5, zero padding);
- ``AIMSPostProcessor``: object probability, top-k, the mask logits
  resized (bilinear, as ``torch.nn.functional.interpolate``) to the padded
  input, cropped and resized to the original image, binarised at 0,
  clipped to the prompt by ``test_cfg.prompt_clip``, the mask score, the
  score threshold, ``nonoverlap``, the order, and the links (association
  scores or mask overlap) with their threshold and top-k;
- ``test_cfg.prompt_snap`` (``AIMS.snap_prompts``): a one-entity /
  two-entity prompt replaced by the one-step mask of its level with the
  highest IoU with it (the one-step pass made once per encoded image).

The result is the prediction dict of docs/formats.md section 2 (masks as
RLE at the original size), as ``AIMSImageSession.predict`` / ``.prompt``
return it::

    python tools/deployment/ort_runner.py work_dirs/onnx demo.jpg \
        --out pred.json
    python tools/deployment/ort_runner.py work_dirs/onnx demo.jpg \
        --prompt car.png --decoder part --out parts.json
"""
import argparse
import json
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import onnxruntime as ort
from pycocotools import mask as mask_util

#: The meta file version this runner reads (``mmaims.deployment``'s
#: ``META_VERSION``).
META_VERSION = 1
META_FILE = 'aims_onnx.json'
#: mmcv's interpolation names -> OpenCV flags (mmcv ``cv2_interp_codes``).
CV2_INTERPOLATION = {
    'nearest': cv2.INTER_NEAREST,
    'bilinear': cv2.INTER_LINEAR,
    'bicubic': cv2.INTER_CUBIC,
    'area': cv2.INTER_AREA,
    'lanczos': cv2.INTER_LANCZOS4
}
#: Added to the mask area in the mask score (``AIMSPostProcessor``).
MASK_SCORE_EPS = 1e-6
#: Prompt type -> the level its prompt is snapped to
#: (``mmaims.structures.drill_down.DRILL_DOWN_PROMPT_LEVELS``).
SNAP_LEVELS = dict(one_entity='entity', two_entities='relation')
#: the clip modes of ``test_cfg.prompt_clip`` (AIMSPostProcessor)
PROMPT_CLIP_MODES = ('hard', 'margin', 'entities', 'inside', 'none')
#: ``clip='auto'`` for a mask given as exact
#: (``mmaims.apis.aims_image_session.AUTO_CLIP``); a drawn one (``rough``)
#: takes the export's ``prompt_clip``
AUTO_CLIP = 'hard'

ImageLike = Union[str, np.ndarray]


# ----------------------------------------------------------------------
# numpy counterparts of the PyTorch operations the post-processing uses
# ----------------------------------------------------------------------
def _linear_taps(in_size: int,
                 out_size: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of ``interpolate(mode='bilinear',
    align_corners=False)`` along one axis, computed as PyTorch's CPU
    kernel does in float32: source ``scale * (dst + 0.5) - 0.5`` clamped at
    0, ``scale = in / out``."""
    scale = np.float32(in_size) / np.float32(out_size)
    src = scale * (np.arange(out_size, dtype=np.float32) +
                   np.float32(0.5)) - np.float32(0.5)
    src = np.maximum(src, np.float32(0))
    low = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    high = np.minimum(low + 1, in_size - 1)
    frac = np.clip(src - low.astype(np.float32), 0, 1).astype(np.float32)
    return low, high, frac


def resize_bilinear(x: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """``torch.nn.functional.interpolate(x, size, mode='bilinear',
    align_corners=False)`` on the last two axes, in float32 (the width
    first, then the height, as PyTorch; equal to float rounding).

    Args:
        x (np.ndarray): (..., h, w).
        size (Sequence[int]): (H, W).

    Returns:
        np.ndarray: (..., H, W) float32.
    """
    x = x.astype(np.float32, copy=False)
    out_h, out_w = int(size[0]), int(size[1])
    low, high, frac = _linear_taps(x.shape[-1], out_w)
    x = x[..., low] * (1 - frac) + x[..., high] * frac
    low, high, frac = _linear_taps(x.shape[-2], out_h)
    return x[..., low, :] * (1 - frac)[:, None] + \
        x[..., high, :] * frac[:, None]


def resize_nearest(x: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """``interpolate(x, size, mode='nearest')`` on the last two axes:
    source index ``floor(dst * in / out)`` in float32, as PyTorch."""
    out_h, out_w = int(size[0]), int(size[1])
    rows = _nearest_index(x.shape[-2], out_h)
    cols = _nearest_index(x.shape[-1], out_w)
    return x[..., rows, :][..., cols]


def _nearest_index(in_size: int, out_size: int) -> np.ndarray:
    if in_size == out_size:
        return np.arange(out_size)
    scale = np.float32(in_size) / np.float32(out_size)
    index = np.floor(np.arange(out_size, dtype=np.float32) * scale)
    return np.minimum(index.astype(np.int64), in_size - 1)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return (1 / (1 + np.exp(-x.astype(np.float32)))).astype(np.float32)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def encode_rle(mask: np.ndarray) -> dict:
    """COCO RLE of a bool mask, ``{'size': [h, w], 'counts': str}``."""
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(
        size=[int(rle['size'][0]), int(rle['size'][1])],
        counts=rle['counts'].decode('ascii'))


# ----------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------
def read_image(source: ImageLike) -> np.ndarray:
    """An image path or array as ``H x W x 3`` uint8 BGR.

    Grayscale arrays are repeated to three channels and a BGRA array loses
    its alpha; other conversions of mmaims's ``load_image`` (16-bit
    images) are not done.
    """
    if isinstance(source, str):
        img = cv2.imread(source, cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f'{source}: not a readable image')
        return img
    img = np.asarray(source)
    if img.dtype != np.uint8:
        raise ValueError(f'expected a uint8 image, got {img.dtype}')
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise ValueError(f'expected an H x W x 3 image, got {img.shape}')
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


def read_mask(source: ImageLike, shape: Sequence[int]) -> np.ndarray:
    """A prompt (PNG path or array; non-zero pixels are in it) as a bool
    mask of the image size; another size is resized (nearest) with a
    warning, as ``mmaims.structures.prompt_geometry.fit_prompt``."""
    if isinstance(source, str):
        mask = cv2.imread(source, cv2.IMREAD_UNCHANGED)
        if mask is None:
            raise ValueError(f'{source}: not a readable mask image')
    else:
        mask = np.asarray(source)
    if mask.ndim == 3:
        mask = mask.any(axis=2)
    mask = mask > 0
    h, w = int(shape[0]), int(shape[1])
    if mask.shape != (h, w):
        warnings.warn(f'prompt of size {mask.shape[0]}x{mask.shape[1]} '
                      f'resized to the image size {h}x{w}')
        mask = cv2.resize(
            mask.astype(np.uint8), (w, h),
            interpolation=cv2.INTER_NEAREST).astype(bool)
    if not mask.any():
        raise ValueError('the prompt is empty')
    return mask


def rescale_size(shape: Sequence[int],
                 scale: Sequence[int]) -> Tuple[int, int]:
    """``(h, w)`` of an image of ``shape`` resized to fit ``scale`` with
    its aspect ratio kept (mmcv's ``rescale_size`` rule: the long side
    within ``max(scale)``, the short within ``min(scale)``, rounded)."""
    h, w = shape[:2]
    factor = min(max(scale) / max(h, w), min(scale) / min(h, w))
    return int(h * float(factor) + 0.5), int(w * float(factor) + 0.5)


class ImageFeatures:
    """One image encoded once, for any number of prompts.

    Attributes:
        name (str): Name of the image in the results.
        ori_shape (tuple[int, int]): Original ``(H, W)``.
        img_shape (tuple[int, int]): ``(h, w)`` after the resize.
        pad_shape (tuple[int, int]): ``(h, w)`` after padding.
        feats (list[np.ndarray]): The image encoder's outputs.
        snap_candidates (dict[str, list[np.ndarray]]): Level -> the
            one-step masks of that level (bool, original size, best
            first), filled the first time a prompt is snapped or cut with
            ``clip='entities'``.
    """

    def __init__(self, name: str, ori_shape: Tuple[int, int],
                 img_shape: Tuple[int, int], pad_shape: Tuple[int, int],
                 feats: List[np.ndarray]) -> None:
        self.name = name
        self.ori_shape = ori_shape
        self.img_shape = img_shape
        self.pad_shape = pad_shape
        self.feats = feats
        self.snap_candidates: Dict[str, List[np.ndarray]] = {}


def grow_mask(mask: np.ndarray, margin: int) -> np.ndarray:
    """A bool mask grown by ``margin`` pixels: a ``(2 margin + 1)`` square,
    as mmaims' ``grow_mask``."""
    return cv2.dilate(
        mask.astype(np.uint8),
        np.ones((2 * margin + 1, 2 * margin + 1), np.uint8),
        borderValue=0) > 0


def make_nonoverlap(binary: np.ndarray) -> np.ndarray:
    """Every pixel to the first (best) mask covering it, as mmaims'
    ``make_nonoverlap``; ``binary`` (N, H, W) sorted by score."""
    return binary & (np.cumsum(binary, axis=0) == 1)


def entity_clip_region(prompt: np.ndarray, entities: List[np.ndarray],
                       margin: int, inside_fraction: float) -> np.ndarray:
    """The prompt grown by ``margin`` united with the non-overlapping
    one-step entities (sorted by score) at least ``inside_fraction``
    inside it (``mmaims.structures.prompt_geometry.entity_clip_region``)."""
    region = grow_mask(prompt, margin)
    if not entities:
        return region
    segments = make_nonoverlap(np.stack(entities))
    area = segments.reshape(len(segments), -1).sum(1)
    inside = (segments & region).reshape(len(segments), -1).sum(1)
    taken = (area > 0) & (inside >= inside_fraction * area)
    return region | segments[taken].any(0)


def snap_prompt(prompt: np.ndarray,
                candidates: List[np.ndarray]) -> np.ndarray:
    """The candidate mask with the highest IoU with ``prompt`` (the first
    one on ties), or ``prompt`` when none overlaps it
    (``mmaims.structures.prompt_geometry.snap_prompt``)."""
    if not candidates:
        return prompt
    target = prompt.reshape(-1).astype(np.float64)
    flat = np.stack(candidates).reshape(len(candidates), -1)
    inter = flat.astype(np.float64) @ target
    union = flat.sum(1) + target.sum() - inter
    ious = inter / np.maximum(union, 1.0)
    best = int(ious.argmax())
    return candidates[best] if ious[best] > 0 else prompt


class AIMSOnnxRunner:
    """One-step inference and drill-down with the exported graphs.

    Args:
        model_dir (str): The folder ``export_onnx.py`` wrote.
        providers (Sequence[str], optional): ONNX Runtime execution
            providers. Defaults to the CPU.
        threads (int, optional): ONNX Runtime intra-op threads. Defaults
            to ONNX Runtime's choice.
    """

    def __init__(self,
                 model_dir: str,
                 providers: Optional[Sequence[str]] = None,
                 threads: Optional[int] = None) -> None:
        with open(osp.join(model_dir, META_FILE)) as f:
            self.meta = json.load(f)
        if self.meta.get('version') != META_VERSION:
            raise ValueError(f'{model_dir}/{META_FILE} has version '
                             f'{self.meta.get("version")}; this runner reads '
                             f'version {META_VERSION}')
        self.model_dir = model_dir
        self.providers = list(providers or ['CPUExecutionProvider'])
        self.options = ort.SessionOptions()
        if threads:
            self.options.intra_op_num_threads = threads
        self._sessions: Dict[str, ort.InferenceSession] = {}
        self.post = self.meta['post_processing']
        self.prompt_snap = bool(self.meta.get('prompt_snap', False))

    def session(self, file: str) -> ort.InferenceSession:
        """The ONNX Runtime session of an exported file (made once)."""
        if file not in self._sessions:
            self._sessions[file] = ort.InferenceSession(
                osp.join(self.model_dir, file),
                self.options,
                providers=self.providers)
        return self._sessions[file]

    # ------------------------------------------------------------------
    # image encoder
    # ------------------------------------------------------------------
    def preprocess(
        self, img: np.ndarray
    ) -> Tuple[np.ndarray, Tuple[int, int], Tuple[int, int]]:
        """Resize, normalise and pad a BGR image as the test pipeline and
        the data preprocessor do.

        Returns:
            tuple: The network input (1, 3, H_pad, W_pad) float32,
            ``img_shape`` and ``pad_shape``.
        """
        pre = self.meta['preprocess']
        resize = pre['resize']
        if resize['scale'] is not None:
            if resize['keep_ratio']:
                h, w = rescale_size(img.shape, resize['scale'])
            else:
                w, h = resize['scale']
            img = cv2.resize(
                img, (w, h),
                interpolation=CV2_INTERPOLATION[resize['interpolation']])
        img_shape = img.shape[:2]
        x = img.transpose(2, 0, 1)
        if pre['bgr_to_rgb']:
            x = x[::-1]
        x = x.astype(np.float32)
        if pre['mean'] is not None:
            mean = np.asarray(pre['mean'], np.float32).reshape(-1, 1, 1)
            std = np.asarray(pre['std'], np.float32).reshape(-1, 1, 1)
            x = (x - mean) / std
        divisor = max(int(pre['pad_size_divisor']), 1)
        pad_h = -(-img_shape[0] // divisor) * divisor
        pad_w = -(-img_shape[1] // divisor) * divisor
        padded = np.full((1, 3, pad_h, pad_w),
                         pre['pad_value'],
                         dtype=np.float32)
        padded[0, :, :img_shape[0], :img_shape[1]] = x
        return padded, tuple(img_shape), (pad_h, pad_w)

    def encode(self, image: ImageLike, name: str = 'image') -> ImageFeatures:
        """Run the image encoder once.

        Args:
            image (str | np.ndarray): Image path or ``H x W x 3`` BGR
                uint8 array.
            name (str): Name in the results (default: the path).

        Returns:
            ImageFeatures: The features and the geometry.
        """
        if isinstance(image, str):
            name = image
        img = read_image(image)
        x, img_shape, pad_shape = self.preprocess(img)
        enc = self.meta['image_encoder']
        feats = self.session(enc['file']).run(None, {enc['inputs'][0]: x})
        return ImageFeatures(name, tuple(img.shape[:2]), img_shape, pad_shape,
                             feats)

    # ------------------------------------------------------------------
    # one-step and prompts
    # ------------------------------------------------------------------
    def predict(self,
                image: Union[ImageLike, ImageFeatures],
                image_id: int = 0) -> dict:
        """One-step inference: every level and the links between them.

        Args:
            image (str | np.ndarray | ImageFeatures): An image, or the
                features of one (:meth:`encode`).
            image_id (int): ``image_id`` of the masks and links.

        Returns:
            dict: docs/formats.md section 2, with ``image``, ``height``,
            ``width``.
        """
        feats = image if isinstance(image, ImageFeatures) else \
            self.encode(image)
        prompt = np.zeros((1, 1, *feats.pad_shape), np.float32)
        prompt[..., :feats.img_shape[0], :feats.img_shape[1]] = 1
        spec = self.meta['one_step']
        return self._decode(feats, spec, prompt, image_id,
                            {d: d
                             for d in spec['outputs']}, spec['links'])

    def prompt(self,
               image: Union[ImageLike, ImageFeatures],
               mask: ImageLike,
               decoder: str = 'part',
               prompt_type: Optional[str] = None,
               image_id: int = 0,
               snap: Optional[bool] = None,
               clip: Optional[str] = None,
               rough: bool = False) -> dict:
        """Drill-down: split the region of a binary mask with a decoder.

        Args:
            image (str | np.ndarray | ImageFeatures): An image, or the
                features of one.
            mask (str | np.ndarray): The prompt on the original image
                (PNG path or array, non-zero inside).
            decoder (str): ``'part'``, ``'entity'`` or ``'relation'``
                (a decoder exported with a prompt pass).
            prompt_type (str, optional): Recorded in ``prompt``; defaults
                to the decoder's.
            image_id (int): ``image_id`` of the masks.
            snap (bool, optional): Snap a one-entity / two-entity prompt
                to the best-matching one-step mask first; None: as the
                export's ``prompt_snap`` (the model's ``test_cfg``).
            clip (str, optional): ``'hard'``, ``'margin'``,
                ``'entities'``, ``'inside'`` or ``'none'`` for this prompt,
                or ``'auto'``: ``'hard'`` for a mask given as exact, the
                export's for a drawn one (``rough``), as the session's
                ``clip='auto'``; None: the export's
                ``post_processing.prompt_clip``.
            rough (bool): The mask was drawn rather than picked from a
                prediction: read by ``clip='auto'`` (the exported graphs
                have no input for a model's rough-prompt flag) and
                recorded as ``prompt['rough']``. Defaults to False.

        Returns:
            dict: docs/formats.md section 2 with the decoder's masks as
            its output level, and ``prompt`` (``decoder``,
            ``prompt_type``, ``level``, and ``rough: True`` for a drawn
            mask).
        """
        if decoder not in self.meta['prompt']:
            raise ValueError(f'no prompt pass was exported for decoder '
                             f'"{decoder}"; exported: '
                             f'{sorted(self.meta["prompt"])}')
        feats = image if isinstance(image, ImageFeatures) else \
            self.encode(image)
        spec = self.meta['prompt'][decoder]
        prompt_type = prompt_type or spec['prompt_type']
        mask = read_mask(mask, feats.ori_shape)
        level = SNAP_LEVELS.get(prompt_type)
        if clip == 'auto':
            clip = None if rough else AUTO_CLIP
        clip = clip or self.post['prompt_clip']
        if clip not in PROMPT_CLIP_MODES:
            raise ValueError(f'unknown prompt_clip {clip!r}; expected one '
                             f'of {PROMPT_CLIP_MODES + ("auto", )}')
        if (self.prompt_snap if snap is None else snap) and level:
            mask = snap_prompt(mask,
                               self._one_step_masks(feats, image_id, level))
        region = None
        if clip == 'entities':
            region = self.prompt_to_input(
                entity_clip_region(
                    mask, self._one_step_masks(feats, image_id, 'entity'),
                    int(self.post['prompt_clip_margin']),
                    self.post['inside_fraction']), feats)
        prompt = self.prompt_to_input(mask, feats)
        result = self._decode(
            feats,
            spec,
            prompt[None, None].astype(np.float32),
            image_id, {decoder: spec['level']}, [],
            clip=clip,
            clip_region=region)
        result['prompt'] = dict(
            decoder=decoder, prompt_type=prompt_type, level=spec['level'])
        if rough:
            # as the session records it (docs/formats.md section 2)
            result['prompt']['rough'] = True
        return result

    def _one_step_masks(self, feats: ImageFeatures, image_id: int,
                        level: str) -> List[np.ndarray]:
        """The one-step masks of a level, best first, computed once per
        image (snapping and ``prompt_clip='entities'`` use them)."""
        if not feats.snap_candidates:
            one_step = self.predict(feats, image_id)
            for name in set(SNAP_LEVELS.values()) | {'entity'}:
                feats.snap_candidates[name] = [
                    mask_util.decode(m['segmentation']).astype(bool)
                    for m in one_step['masks'] if m['level'] == name
                ]
        return feats.snap_candidates[level]

    @staticmethod
    def prompt_to_input(mask: np.ndarray, feats: ImageFeatures) -> np.ndarray:
        """A prompt on the original image at the padded network input:
        bilinear resize to ``img_shape``, >= 0.5, zero padding (as
        ``prompt_to_input`` of mmaims).

        Returns:
            np.ndarray: Bool (H_pad, W_pad).
        """
        ori_h, ori_w = feats.ori_shape
        h, w = mask.shape
        if abs(h * ori_w - w * ori_h) > (ori_h + ori_w):
            raise ValueError(f'the prompt of size {(h, w)} does not match '
                             f'the image of size {(ori_h, ori_w)}')
        resized = resize_bilinear(mask[None].astype(np.float32),
                                  feats.img_shape)[0] >= 0.5
        if not resized.any():
            raise ValueError('the prompt is empty once resized to the '
                             f'network input {feats.img_shape}')
        padded = np.zeros(feats.pad_shape, bool)
        padded[:feats.img_shape[0], :feats.img_shape[1]] = resized
        return padded

    # ------------------------------------------------------------------
    # post-processing (AIMSPostProcessor)
    # ------------------------------------------------------------------
    def _decode(self,
                feats: ImageFeatures,
                spec: dict,
                prompt: np.ndarray,
                image_id: int,
                levels: Dict[str, str],
                links: List[dict],
                clip: Optional[str] = None,
                clip_region: Optional[np.ndarray] = None) -> dict:
        session = self.session(spec['file'])
        names = [i.name for i in session.get_inputs()]
        available = dict(
            zip(self.meta['decoder_inputs'], feats.feats + [prompt]))
        outputs = dict(
            zip([o.name for o in session.get_outputs()],
                session.run(None, {n: available[n]
                                   for n in names})))
        low_size = outputs[spec['outputs'][next(
            iter(levels))]['mask']].shape[-2:]
        prompt_full, prompt_low = self._prompt_at_output(
            prompt[0], feats, low_size)
        if clip_region is not None:
            # 'entities': the children are cut to the region instead
            prompt_full, _ = self._prompt_at_output(clip_region[None], feats,
                                                    low_size)
        kept = {}
        for decoder, level in levels.items():
            names = spec['outputs'][decoder]
            kept[decoder] = self._instances(outputs[names['cls']][0],
                                            outputs[names['mask']][0], feats,
                                            level, prompt_full, clip)
        result = dict(masks=[], links=[])
        ids = {}
        next_id = 1
        for level in self.meta['levels']:
            for decoder, lvl in levels.items():
                if lvl != level:
                    continue
                inst = kept[decoder]
                ids[decoder] = list(range(next_id, next_id + len(inst[1])))
                next_id += len(inst[1])
                for mask_id, mask, score in zip(ids[decoder], inst[0],
                                                inst[1]):
                    result['masks'].append(
                        dict(
                            id=mask_id,
                            image_id=image_id,
                            level=level,
                            segmentation=encode_rle(mask),
                            score=float(score)))
        for link in links:
            parent, child = link['parent'], link['child']
            if levels.get(parent) != parent or levels.get(child) != child:
                continue
            rows_p, rows_c = kept[parent][2], kept[child][2]
            if link['output'] is not None:
                pair = sigmoid(outputs[link['output']][0])[rows_p][:, rows_c]
            else:
                pair = self._overlap_scores(
                    outputs[spec['outputs'][parent]['mask']][0][rows_p],
                    outputs[spec['outputs'][child]['mask']][0][rows_c],
                    prompt_low)
            for p, c, score in self._links(pair, kept[parent][1],
                                           kept[child][1]):
                result['links'].append(
                    dict(
                        image_id=image_id,
                        type=link['type'],
                        parent_id=ids[parent][p],
                        child_id=ids[child][c],
                        score=score))
        result.update(
            image=feats.name,
            height=int(feats.ori_shape[0]),
            width=int(feats.ori_shape[1]))
        return result

    @staticmethod
    def _prompt_at_output(
            prompt: np.ndarray, feats: ImageFeatures,
            low_size: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        """``prompt_to_output``: the padded prompt (1, H_pad, W_pad) at the
        original size (crop, nearest resize) and at the mask-logit size
        (bilinear, >= 0.5)."""
        prompt = prompt.astype(np.float32)
        low = resize_bilinear(prompt, low_size)[0] >= 0.5
        h, w = feats.img_shape
        full = resize_nearest(prompt[:, :h, :w], feats.ori_shape)
        return full[0] > 0, low

    def _instances(
        self,
        cls_logits: np.ndarray,
        mask_logits: np.ndarray,
        feats: ImageFeatures,
        level: str,
        prompt: np.ndarray,
        clip: Optional[str] = None
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks (N, H, W) bool, scores (N,) float32 and query rows (N,)
        of one decoder, sorted by score (``_instances_single``); ``clip``
        overrides ``prompt_clip``."""
        post = self.post
        obj = softmax(cls_logits.astype(np.float32))[:, 0]
        k = min(int(post['max_per_image'][level]), obj.shape[0])
        query_inds = np.argsort(-obj, kind='stable')[:k]
        obj = obj[query_inds]
        masks = resize_bilinear(mask_logits[query_inds], feats.pad_shape)
        masks = masks[:, :feats.img_shape[0], :feats.img_shape[1]]
        masks = resize_bilinear(masks, feats.ori_shape)
        binary = masks > 0
        area = binary.reshape(len(binary), -1).sum(1)
        inside = area > 0
        clip = clip or post['prompt_clip']
        if clip in ('hard', 'entities'):
            # 'entities': ``prompt`` is the region (``_decode``)
            binary = binary & prompt[None]
        elif clip == 'margin':
            binary = binary & grow_mask(prompt, int(
                post['prompt_clip_margin']))[None]
        elif clip == 'inside':
            within = (binary & prompt[None]).reshape(len(binary), -1).sum(1)
            inside = within >= post['inside_fraction'] * area
        elif clip != 'none':
            raise ValueError(f'unknown prompt_clip {clip!r}')
        flat = binary.reshape(len(binary), -1)
        probs = (sigmoid(masks) * binary).reshape(len(binary), -1)
        mask_scores = probs.sum(1) / (
            flat.sum(1).astype(np.float32) + np.float32(MASK_SCORE_EPS))
        scores = (obj * mask_scores).astype(np.float32)
        keep = (scores > post['score_thr'][level]) & flat.any(1) & inside
        binary, scores, query_inds = binary[keep], scores[keep], query_inds[
            keep]
        order = np.argsort(-scores, kind='stable')
        binary, scores, query_inds = (binary[order], scores[order],
                                      query_inds[order])
        if post['nonoverlap'][level] and len(scores):
            binary = make_nonoverlap(binary)
            keep = binary.reshape(len(binary), -1).any(1)
            binary, scores, query_inds = (binary[keep], scores[keep],
                                          query_inds[keep])
        return binary, scores, query_inds

    @staticmethod
    def _overlap_scores(parent: np.ndarray, child: np.ndarray,
                        prompt_low: np.ndarray) -> np.ndarray:
        """``|P & C| / |C|`` of the binarised mask logits inside the
        prompt (links without the association module)."""
        p = ((parent > 0) & prompt_low).reshape(len(parent),
                                                -1).astype(np.float32)
        c = ((child > 0) & prompt_low).reshape(len(child),
                                               -1).astype(np.float32)
        return (p @ c.T) / np.maximum(c.sum(1), 1.0)[None]

    def _links(self, pair: np.ndarray, parent_scores: np.ndarray,
               child_scores: np.ndarray) -> List[Tuple[int, int, float]]:
        """``(parent row, child row, score)`` of the kept links, best
        first (``_links_single``)."""
        post = self.post
        if post['link_with_mask_scores']:
            pair = pair * parent_scores[:, None] * child_scores[None, :]
        flat = pair.reshape(-1).astype(np.float32)
        keep = np.flatnonzero(flat > post['link_score_thr'])
        order = np.argsort(
            -flat[keep], kind='stable')[:int(post['max_links_per_image'])]
        keep = keep[order]
        num_child = max(pair.shape[1], 1)
        return [(int(i // num_child), int(i % num_child), float(flat[i]))
                for i in keep]


def parse_args():
    parser = argparse.ArgumentParser(
        description='AIMS with ONNX Runtime: one-step inference, or '
        'drill-down on a mask')
    parser.add_argument('model_dir', help='folder of export_onnx.py')
    parser.add_argument('image', help='image file')
    parser.add_argument(
        '--prompt', help='binary mask (PNG, non-zero inside) to drill into')
    parser.add_argument(
        '--decoder', default='part', help='decoder of the prompt')
    parser.add_argument(
        '--snap',
        action=argparse.BooleanOptionalAction,
        help='snap the prompt to the best-matching one-step mask first '
        '(default: as the export\'s test_cfg.prompt_snap)')
    parser.add_argument(
        '--clip',
        choices=PROMPT_CLIP_MODES + ('auto', ),
        help='how the children are clipped to the prompt (default: as the '
        'export\'s test_cfg.prompt_clip); auto: hard for a mask not marked '
        '--rough, the export\'s for a rough one')
    parser.add_argument(
        '--rough',
        action='store_true',
        help='the prompt was drawn, not picked from a prediction (read by '
        '--clip auto)')
    parser.add_argument('--out', help='write the prediction JSON here')
    parser.add_argument(
        '--threads', type=int, help='ONNX Runtime intra-op threads')
    return parser.parse_args()


def main():
    args = parse_args()
    runner = AIMSOnnxRunner(args.model_dir, threads=args.threads)
    if args.prompt:
        result = runner.prompt(
            args.image,
            args.prompt,
            args.decoder,
            snap=args.snap,
            clip=args.clip,
            rough=args.rough)
    else:
        result = runner.predict(args.image)
    counts = {}
    for mask in result['masks']:
        counts[mask['level']] = counts.get(mask['level'], 0) + 1
    print(f'{len(result["masks"])} masks ({counts}), '
          f'{len(result["links"])} links')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f)
        print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
