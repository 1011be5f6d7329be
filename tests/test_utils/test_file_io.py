# Copyright (c) mmaims contributors. All rights reserved.
"""Atomic writes: the old file survives a failed write, and nothing is left
behind."""
import json

import pytest

from mmaims.utils import atomic_open, dump_bytes, dump_json


def test_atomic_write_replaces_only_on_success(tmp_path):
    path = tmp_path / 'out' / 'result.json'
    dump_json({'a': 1}, str(path))  # the folder is created
    assert json.loads(path.read_text()) == {'a': 1}
    with pytest.raises(RuntimeError, match='disk full'):
        with atomic_open(str(path)) as f:
            f.write('{"a": 2, "half')
            raise RuntimeError('disk full')
    # the previous file is intact and no temporary file is left
    assert json.loads(path.read_text()) == {'a': 1}
    assert [p.name for p in path.parent.iterdir()] == ['result.json']
    # an object json cannot write fails before anything replaces the file
    with pytest.raises(TypeError):
        dump_json({'a': object()}, str(path))
    assert json.loads(path.read_text()) == {'a': 1}
    assert [p.name for p in path.parent.iterdir()] == ['result.json']


def test_a_folder_is_not_overwritten(tmp_path):
    with pytest.raises(IsADirectoryError, match='is a folder'):
        dump_json({}, str(tmp_path))


def test_binary_write(tmp_path):
    path = tmp_path / 'map.png'
    dump_bytes(b'\x89PNG\x00\xff', str(path))
    assert path.read_bytes() == b'\x89PNG\x00\xff'
    with pytest.raises(RuntimeError, match='disk full'):
        with atomic_open(str(path), binary=True) as f:
            f.write(b'half')
            raise RuntimeError('disk full')
    assert path.read_bytes() == b'\x89PNG\x00\xff'
    assert [p.name for p in tmp_path.iterdir()] == ['map.png']
