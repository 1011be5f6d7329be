# Copyright (c) mmaims contributors. All rights reserved.
"""Regenerate the tiny inference fixtures of this folder (and demo/demo.png).

    python tests/data/inference/make_fixtures.py

images/: ``good.png`` (a 48 x 64 synthetic scene), ``gray.png`` (the same,
grayscale), ``rgba.png`` (the same with an alpha channel), ``broken.png``
(not an image), ``notes.txt`` (not an image extension).
prompts/: ``box.png`` (48 x 64 mask of a rectangle), ``box_small.png`` (the
same at 24 x 32), ``empty.png`` (all zero).
"""
import os
import os.path as osp
import tempfile

import cv2
import numpy as np

from mmaims.datasets.synthetic import make_synthetic_dataset

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(osp.dirname(HERE)))


def _val_image(size: int, seed: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        make_synthetic_dataset(
            tmp, num_images=1, num_val=1, seed=seed, size=size)
        folder = osp.join(tmp, 'images', 'val')
        name = sorted(os.listdir(folder))[0]
        return cv2.imread(osp.join(folder, name), cv2.IMREAD_COLOR)


def main() -> None:
    images = osp.join(HERE, 'images')
    prompts = osp.join(HERE, 'prompts')
    os.makedirs(images, exist_ok=True)
    os.makedirs(prompts, exist_ok=True)

    scene = cv2.resize(
        _val_image(64, seed=1), (64, 48), interpolation=cv2.INTER_AREA)
    cv2.imwrite(osp.join(images, 'good.png'), scene)
    cv2.imwrite(
        osp.join(images, 'gray.png'), cv2.cvtColor(scene, cv2.COLOR_BGR2GRAY))
    alpha = np.full(scene.shape[:2], 255, np.uint8)
    alpha[:, :8] = 0
    cv2.imwrite(osp.join(images, 'rgba.png'), np.dstack([scene, alpha]))
    with open(osp.join(images, 'broken.png'), 'wb') as f:
        f.write(b'this is not a PNG file\n')
    with open(osp.join(images, 'notes.txt'), 'w') as f:
        f.write('not an image: the inferencer lists it as skipped\n')

    box = np.zeros((48, 64), np.uint8)
    box[8:40, 12:44] = 255
    cv2.imwrite(osp.join(prompts, 'box.png'), box)
    cv2.imwrite(
        osp.join(prompts, 'box_small.png'),
        cv2.resize(box, (32, 24), interpolation=cv2.INTER_NEAREST))
    cv2.imwrite(osp.join(prompts, 'empty.png'), np.zeros((48, 64), np.uint8))

    os.makedirs(osp.join(REPO, 'demo'), exist_ok=True)
    cv2.imwrite(osp.join(REPO, 'demo', 'demo.png'), _val_image(128, seed=7))


if __name__ == '__main__':
    main()
