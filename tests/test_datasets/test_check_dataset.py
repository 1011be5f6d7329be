# Copyright (c) mmaims contributors. All rights reserved.
"""tools/misc/check_dataset.py lists every problem of a file and its
images in one pass."""
import json
import re
import os.path as osp

import cv2
import numpy as np


def test_check_dataset(tmp_path, load_tool, capsys):
    from mmaims.datasets.synthetic import make_synthetic_dataset
    root = str(tmp_path / 'data')
    paths = make_synthetic_dataset(
        root, num_images=6, num_val=2, seed=1, size=32)
    tool = load_tool('misc/check_dataset.py')
    img_root = osp.join(root, 'images')
    assert tool.main([paths['train'], '--img-root', img_root]) == 0
    assert 'no problem found' in capsys.readouterr().out

    doc = json.load(open(paths['train']))
    images = doc['images']
    # 1: a truncated PNG (OpenCV would still decode it)
    first = osp.join(img_root, images[0]['file_name'])
    raw = open(first, 'rb').read()
    open(first, 'wb').write(raw[:len(raw) - 20])
    # 2: an image of another size than its record
    second = osp.join(img_root, images[1]['file_name'])
    cv2.imwrite(second, np.zeros((16, 32, 3), np.uint8))
    # 3: a truncated JPEG, which OpenCV decodes (rows filled in)
    jpeg = osp.join(img_root, 'cut.jpg')
    ok, encoded = cv2.imencode('.jpg', np.full((32, 32, 3), 90, np.uint8))
    open(jpeg, 'wb').write(encoded.tobytes()[:-30])
    images[3]['file_name'] = 'cut.jpg'
    # 4: a missing image file; 5: a dangling part link; 6: an unknown image
    images[2]['file_name'] = 'nowhere.png'
    part = next(a for a in doc['annotations'] if a['level'] == 'part')
    part['entity_id'] = 999999
    doc['annotations'].append(dict(doc['annotations'][0], id=777777,
                                   image_id=424242))
    bad = str(tmp_path / 'bad.json')
    json.dump(doc, open(bad, 'w'))
    assert tool.main([bad, '--img-root', img_root]) == 1
    out = capsys.readouterr().out
    assert '6 problem(s)' in out
    assert f'image id {images[0]["id"]}: image file' in out
    assert 'cannot be read (empty, truncated or not an image)' in out
    # OpenCV 5 refuses the cut JPEG, older ones decode it: reported either way
    assert re.search(f'image id {images[3]["id"]}: image file {jpeg} '
                     '(is truncated|cannot be read)', out)
    assert 'is 16 x 32 but its record says 32 x 32' in out
    assert 'nowhere.png does not exist' in out
    assert f'annotation id {part["id"]}' in out
    assert 'annotation id 777777: unknown image id 424242' in out
    # not JSON: named, no traceback
    (tmp_path / 'x.json').write_text('{')
    assert tool.main([str(tmp_path / 'x.json')]) == 1
    assert 'not valid JSON' in capsys.readouterr().err


def test_end_markers(load_tool):
    truncated = load_tool('misc/check_dataset.py')._truncated
    ok, jpeg = cv2.imencode('.jpg', np.zeros((8, 8, 3), np.uint8))
    ok, png = cv2.imencode('.png', np.zeros((8, 8, 3), np.uint8))
    assert not truncated(jpeg) and not truncated(png)
    assert truncated(jpeg[:-10]) and truncated(png[:-10])
    assert not truncated(np.frombuffer(b'BM other format', np.uint8))
