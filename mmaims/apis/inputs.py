# Copyright (c) mmaims contributors. All rights reserved.
"""Reading the images and mask prompts given to the inferencer and the demo.

Every problem is reported with the file (or input index) it concerns:
an unreadable image raises :class:`ImageLoadError`; an image that is read
but converted (grayscale, RGBA, 16-bit) comes back with a note that says
what was done, and the inferencer emits it as a warning.
"""
import numbers
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import mmcv
import numpy as np
from mmengine.fileio import get

from mmaims.structures.prompt_geometry import BoxPrompt

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.tiff', '.webp')

ImageInput = Union[str, np.ndarray]
PromptInput = Union[str, np.ndarray, Sequence[float]]


class ImageLoadError(ValueError):
    """An input image that cannot be read or used."""


def list_image_folder(folder: str) -> Tuple[List[str], List[str]]:
    """Entries of a folder (not recursive): images, and what is skipped.

    Args:
        folder (str): Directory path.

    Returns:
        tuple[list[str], list[str]]: Sorted paths of the files with an
        image extension (:data:`IMG_EXTENSIONS`, case-insensitive), and one
        line per other entry, which the caller reports as skipped: files
        with another extension, and sub-folders (not searched; give them
        as inputs of their own).
    """
    images, skipped = [], []
    for name in sorted(os.listdir(folder)):
        path = osp.join(folder, name)
        if osp.isdir(path):
            skipped.append(f'{path}: a sub-folder, not searched (give it as '
                           'an input of its own), skipped')
        elif not osp.isfile(path):
            skipped.append(f'{path}: not a regular file, skipped')
        elif name.lower().endswith(IMG_EXTENSIONS):
            images.append(path)
        else:
            skipped.append(f'{path}: not an image file extension, skipped')
    return images, skipped


def _to_bgr(img: np.ndarray, where: str) -> Tuple[np.ndarray, List[str]]:
    """Bring a decoded image to ``H x W x 3`` uint8 BGR, noting conversions.

    ``where`` names the image in errors and notes. Colour order of 3- and
    4-channel input is taken as BGR(A), as OpenCV decodes files and as
    mmdet expects arrays.
    """
    notes = []
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
        notes.append(f'{where}: 16-bit image converted to 8 bits')
    elif img.dtype == bool:
        img = img.astype(np.uint8) * 255
        notes.append(f'{where}: binary image converted to 8 bits')
    elif img.dtype != np.uint8:
        raise ImageLoadError(
            f'{where}: unsupported pixel type {img.dtype}; give uint8 '
            '(or uint16) pixels')
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        notes.append(f'{where}: grayscale image converted to 3 channels')
    elif img.ndim == 3 and img.shape[2] == 4:
        # what is under transparent pixels is undefined; composite on black
        # rather than use it
        alpha = img[..., 3:].astype(np.float32) / 255.
        img = (img[..., :3].astype(np.float32) * alpha).round().astype(
            np.uint8)
        notes.append(f'{where}: RGBA image converted to 3 channels (alpha '
                     'composited on black)')
    elif not (img.ndim == 3 and img.shape[2] == 3):
        raise ImageLoadError(
            f'{where}: expected an H x W, H x W x 1, H x W x 3 or H x W x 4 '
            f'image, got shape {tuple(img.shape)}')
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ImageLoadError(f'{where}: the image is empty, shape '
                             f'{tuple(img.shape)}')
    return np.ascontiguousarray(img), notes


def load_image(
        source: ImageInput,
        where: Optional[str] = None,
        backend_args: Optional[dict] = None) -> Tuple[np.ndarray, List[str]]:
    """Read an image path or check an array, as ``H x W x 3`` uint8 BGR.

    Args:
        source (str | np.ndarray): Image file path, or an array ``H x W``,
            ``H x W x 1``, ``H x W x 3`` (BGR, like mmdet) or ``H x W x 4``
            (BGRA), uint8 or uint16.
        where (str, optional): Name of the image in messages. Defaults to
            the path, or ``'array input'``.
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        tuple[np.ndarray, list[str]]: The BGR image and the notes of the
        conversions applied (empty when none was needed).

    Raises:
        ImageLoadError: Missing or undecodable file, unsupported array.
    """
    if isinstance(source, str):
        where = where or source
        try:
            img_bytes = get(source, backend_args=backend_args)
        except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
            raise ImageLoadError(f'{where}: cannot read the file ({e})') from e
        img = mmcv.imfrombytes(img_bytes, flag='unchanged', backend='cv2')
        if img is None:
            raise ImageLoadError(f'{where}: not a readable image (the file '
                                 f'has {len(img_bytes)} bytes that OpenCV '
                                 'cannot decode)')
        return _to_bgr(img, where)
    if isinstance(source, np.ndarray):
        return _to_bgr(source, where or 'array input')
    raise ImageLoadError(f'{where or "input"}: expected an image path or a '
                         f'numpy array, got {type(source).__name__}')


def is_box(source) -> bool:
    """Whether a prompt input is a box: four numbers ``(x1, y1, x2, y2)``
    (a tuple or list, or a :class:`BoxPrompt`)."""
    if isinstance(source, BoxPrompt):
        return True
    return isinstance(source, (list, tuple)) and len(source) == 4 and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool)
        for v in source)


def load_prompt(source: PromptInput,
                where: Optional[str] = None) -> Union[np.ndarray, BoxPrompt]:
    """Read a prompt: a binary mask (array or image file) or a box.

    A pixel is in the prompt when it is non-zero; for a colour PNG when any
    colour channel is non-zero, for a PNG with a varying alpha channel when
    its alpha is non-zero (a mask painted on a transparent layer). A box
    ``(x1, y1, x2, y2)`` in pixels of the original image is returned as a
    :class:`BoxPrompt`, made a mask once the image size is known
    (:func:`fit_prompt`).

    Args:
        source (str | np.ndarray | Sequence[float]): Mask file, ``h x w``
            (or ``1 x h x w``, ``h x w x 1``) array, or box.
        where (str, optional): Name of the prompt in messages.

    Returns:
        np.ndarray | BoxPrompt: ``h x w`` bool mask, or the box.

    Raises:
        ValueError: Unreadable file, bad shape, an empty prompt, or a box
            with ``x2 <= x1`` or ``y2 <= y1``.
    """
    if is_box(source):
        box = BoxPrompt(*[float(v) for v in source])
        if not (box.x1 < box.x2 and box.y1 < box.y2):
            raise ValueError(f'{where or "box prompt"}: a box is (x1, y1, '
                             f'x2, y2) with x1 < x2 and y1 < y2, got '
                             f'{tuple(source)}')
        return box
    if isinstance(source, str):
        where = where or f'prompt {source}'
        if not osp.isfile(source):
            raise ValueError(f'{where}: file not found')
        mask = cv2.imread(source, cv2.IMREAD_UNCHANGED)
        if mask is None:
            raise ValueError(f'{where}: not a readable image')
        if mask.ndim == 3 and mask.shape[2] == 4 and \
                mask[..., 3].min() != mask[..., 3].max():
            mask = mask[..., 3]
        elif mask.ndim == 3:
            mask = mask[..., :3].max(axis=2)
    elif isinstance(source, np.ndarray) or hasattr(source, 'numpy'):
        where = where or 'prompt array'
        mask = source.detach().cpu().numpy() if hasattr(
            source, 'detach') else np.asarray(source)
        if mask.ndim == 3 and mask.shape[0] == 1:
            mask = mask[0]
        elif mask.ndim == 3 and mask.shape[2] == 1:
            mask = mask[..., 0]
    else:
        raise ValueError(f'{where or "prompt"}: expected a mask path or an '
                         f'array, got {type(source).__name__}')
    if mask.ndim != 2:
        raise ValueError(f'{where}: a prompt must be one h x w mask, got '
                         f'shape {tuple(mask.shape)}')
    mask = mask > 0
    if not mask.any():
        raise ValueError(f'{where}: the prompt is empty (no non-zero pixel); '
                         'give a binary mask of the region to split')
    return mask
