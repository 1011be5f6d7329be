# Copyright (c) mmaims contributors. All rights reserved.
import os.path as osp

import cv2
import numpy as np
import pytest

from mmaims.apis.inputs import (ImageLoadError, list_image_folder, load_image,
                                load_prompt)
from mmaims.structures.prompt_geometry import fit_prompt

DATA = osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))), 'data', 'inference')
IMAGES = osp.join(DATA, 'images')
PROMPTS = osp.join(DATA, 'prompts')


def test_color_image_unchanged():
    img, notes = load_image(osp.join(IMAGES, 'good.png'))
    assert notes == [] and img.shape == (48, 64, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(
        img, cv2.imread(osp.join(IMAGES, 'good.png'), cv2.IMREAD_COLOR))


def test_grayscale_rgba_16bit_converted_with_note():
    gray, notes = load_image(osp.join(IMAGES, 'gray.png'))
    assert gray.shape == (48, 64, 3)
    assert notes == [
        f'{osp.join(IMAGES, "gray.png")}: grayscale image '
        'converted to 3 channels'
    ]
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])

    rgba, notes = load_image(osp.join(IMAGES, 'rgba.png'))
    assert rgba.shape == (48, 64, 3) and 'RGBA' in notes[0]
    # transparent pixels (alpha 0 in the first 8 columns) become black
    assert rgba[:, :8].max() == 0
    good = cv2.imread(osp.join(IMAGES, 'good.png'))
    np.testing.assert_array_equal(rgba[:, 8:], good[:, 8:])

    deep = (np.arange(12, dtype=np.uint16) * 5000).reshape(3, 4)
    img, notes = load_image(deep, 'deep')
    assert notes[0] == 'deep: 16-bit image converted to 8 bits'
    assert img.shape == (3, 4, 3) and img[2, 3, 0] == (55000 >> 8)


def test_unreadable_images():
    with pytest.raises(ImageLoadError, match='broken.png: not a readable'):
        load_image(osp.join(IMAGES, 'broken.png'))
    with pytest.raises(ImageLoadError, match='nope.png: cannot read'):
        load_image(osp.join(IMAGES, 'nope.png'))
    with pytest.raises(ImageLoadError, match=r'shape \(4, 4, 2\)'):
        load_image(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ImageLoadError, match='unsupported pixel type float'):
        load_image(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ImageLoadError, match='got int'):
        load_image(3)


def test_list_image_folder(tmp_path):
    images, skipped = list_image_folder(IMAGES)
    assert [osp.basename(p) for p in images
            ] == ['broken.png', 'good.png', 'gray.png', 'rgba.png']
    assert skipped == [
        osp.join(IMAGES, 'notes.txt') +
        ': not an image file extension, skipped'
    ]
    # a sub-folder is named among the skipped entries, not dropped unseen
    (tmp_path / 'a.png').write_bytes(b'')
    (tmp_path / 'more').mkdir()
    (tmp_path / 'more' / 'b.png').write_bytes(b'')
    images, skipped = list_image_folder(str(tmp_path))
    assert images == [str(tmp_path / 'a.png')]
    assert len(skipped) == 1
    assert skipped[0].startswith(str(tmp_path / 'more') + ': a sub-folder')


def test_load_prompt():
    box = load_prompt(osp.join(PROMPTS, 'box.png'))
    assert box.dtype == bool and box.shape == (48, 64)
    assert box.sum() == 32 * 32 and box[8:40, 12:44].all()
    np.testing.assert_array_equal(load_prompt(box.astype(np.uint8)[None]), box)
    np.testing.assert_array_equal(load_prompt(box[..., None]), box)
    # a mask painted on a transparent layer: the alpha channel is the mask
    layer = np.zeros((48, 64, 4), np.uint8)
    layer[..., :3] = 255
    layer[..., 3] = box * 255
    np.testing.assert_array_equal(load_prompt(layer[..., 3]), box)
    with pytest.raises(ValueError, match='empty.png: the prompt is empty'):
        load_prompt(osp.join(PROMPTS, 'empty.png'))
    with pytest.raises(ValueError, match='prompt array: the prompt is empty'):
        load_prompt(np.zeros((4, 4)))
    with pytest.raises(
            ValueError, match=r'one h x w mask, got shape '
            r'\(2, 4, 4\)'):
        load_prompt(np.ones((2, 4, 4)))
    with pytest.raises(ValueError, match='not a readable image'):
        load_prompt(osp.join(IMAGES, 'broken.png'))


def test_rgba_prompt_file(tmp_path):
    box = load_prompt(osp.join(PROMPTS, 'box.png'))
    layer = np.zeros((48, 64, 4), np.uint8)
    layer[..., :3] = 255
    layer[..., 3] = box * 255
    cv2.imwrite(str(tmp_path / 'layer.png'), layer)
    np.testing.assert_array_equal(
        load_prompt(str(tmp_path / 'layer.png')), box)


def test_fit_prompt():
    box = load_prompt(osp.join(PROMPTS, 'box.png'))
    assert fit_prompt(box, (48, 64), 'p') is box
    small = load_prompt(osp.join(PROMPTS, 'box_small.png'))
    with pytest.warns(UserWarning, match='p: prompt of size 24x32 resized') \
            as record:
        np.testing.assert_array_equal(fit_prompt(small, (48, 64), 'p'), box)
    assert 'aspect' not in str(record[0].message)
    dot = np.zeros((100, 100), bool)
    dot[50, 50] = True
    with pytest.warns(UserWarning, match='aspect ratio differs'):
        with pytest.raises(ValueError, match='empty once resized'):
            fit_prompt(dot, (5, 10), 'p')
