# Copyright (c) mmaims contributors. All rights reserved.
import copy
import json
import os.path as osp

import numpy as np
import pytest

from mmaims.datasets import (HierarchicalAnnotationError,
                             HierarchicalCocoDataset)
from mmaims.structures import decode_rle, encode_mask


def _dataset(data_dir, ann_file, **kwargs):
    kwargs.setdefault('data_prefix', dict(img='images/'))
    return HierarchicalCocoDataset(
        data_root=data_dir, ann_file=ann_file, pipeline=[], **kwargs)


def test_loads_file_written_by_another_tool(hier_data_dir):
    ds = _dataset(hier_data_dir, 'hand_written.json')
    assert len(ds) == 2
    info = ds.get_data_info(0)
    assert info['levels'] == ['part', 'entity', 'relation']
    assert info['source'] == 'handmade'
    assert info['img_path'] == osp.join(hier_data_dir, 'images', 'a.png')
    assert info['valid_region'] is None
    by_id = {i['ann_id']: i for i in info['instances']}
    # the degenerate polygon (ann 22) is skipped, nothing else
    assert sorted(by_id) == [10, 11, 12, 20, 21, 30]
    assert ds._skipped == {'empty part mask': 1}
    # polygons and uncompressed RLE become compressed RLE with str counts
    for inst in info['instances']:
        assert isinstance(inst['mask']['counts'], str)
        assert inst['mask']['size'] == [24, 32]
    crowd = by_id[12]
    assert crowd['ignore_flag'] == 1
    m = decode_rle(crowd['mask'])
    assert m.sum() == 36 and m[4:10, 20:26].all()
    assert crowd['bbox'] == [20.0, 4.0, 26.0, 10.0]
    # the off-by-one bbox of ann 10 is recomputed from the mask
    m = decode_rle(by_id[10]['mask'])
    ys, xs = np.nonzero(m)
    assert by_id[10]['bbox'] == [xs.min(), ys.min(), xs.max() + 1,
                                 ys.max() + 1]
    assert ds._bbox_fixed == 1
    assert by_id[20]['entity_id'] == 10 and by_id[21]['entity_id'] is None
    assert by_id[30]['entity_ids'] == [10, 11]
    assert by_id[30]['predicate'] == 'next to'
    assert by_id[10]['category_id'] == 3

    info = ds.get_data_info(1)
    assert info['img_id'] == 'psg:2'
    assert info['source'] == 'default'
    region = decode_rle(info['valid_region'])
    assert region.shape == (16, 20) and 0 < region.mean() < 1


def _write(tmp_path, doc, hier_data_dir):
    path = tmp_path / 'ann.json'
    path.write_text(json.dumps(doc))
    return str(path)


def _base_doc(hier_data_dir):
    with open(osp.join(hier_data_dir, 'hand_written.json')) as f:
        return json.load(f)


def _expect_error(tmp_path, hier_data_dir, doc, *fragments):
    path = _write(tmp_path, doc, hier_data_dir)
    with pytest.raises(HierarchicalAnnotationError) as e:
        HierarchicalCocoDataset(
            ann_file=path,
            data_prefix=dict(img=osp.join(hier_data_dir, 'images')),
            pipeline=[])
    message = str(e.value)
    assert path in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def _ann(doc, ann_id):
    return next(a for a in doc['annotations'] if a['id'] == ann_id)


def test_listed_level_without_annotation_is_warned(tmp_path, hier_data_dir,
                                                   monkeypatch):
    import logging

    import mmaims.datasets.hierarchical_coco as module
    logged = []
    monkeypatch.setattr(module, 'print_log',
                        lambda msg, **kw: logged.append((msg, kw)))
    doc = _base_doc(hier_data_dir)
    image = doc['images'][0]
    parts = {
        a['id']
        for a in doc['annotations']
        if a['image_id'] == image['id'] and a['level'] == 'part'
    }
    assert parts and 'part' in image['levels']
    doc['annotations'] = [
        a for a in doc['annotations'] if a['id'] not in parts
    ]
    path = _write(tmp_path, doc, hier_data_dir)
    HierarchicalCocoDataset(
        ann_file=path,
        data_prefix=dict(img=osp.join(hier_data_dir, 'images')),
        pipeline=[])
    warnings = [
        msg for msg, kw in logged if kw.get('level') == logging.WARNING
    ]
    assert len(warnings) == 1
    assert f'1 images list "part" in their levels but have no part ' \
        f'annotation (e.g. image id {image["id"]})' in warnings[0]


def test_error_dangling_entity_id(tmp_path, hier_data_dir):
    doc = _base_doc(hier_data_dir)
    _ann(doc, 20)['entity_id'] = 999
    _expect_error(tmp_path, hier_data_dir, doc, 'image id 1',
                  'annotation id 20', 'dangling entity_id', '999')


def test_error_entity_id_pointing_at_a_part(tmp_path, hier_data_dir):
    doc = _base_doc(hier_data_dir)
    _ann(doc, 20)['entity_id'] = 21
    _expect_error(tmp_path, hier_data_dir, doc, 'annotation id 20',
                  'level "part"')


def test_error_entity_of_another_image(tmp_path, hier_data_dir):
    doc = _base_doc(hier_data_dir)
    _ann(doc, 30)['entity_ids'] = [10, 40]  # 40 is on image psg:2
    _expect_error(tmp_path, hier_data_dir, doc, 'annotation id 30',
                  'dangling entity_ids', '40')


def test_error_malformed_entity_ids(tmp_path, hier_data_dir):
    doc = _base_doc(hier_data_dir)
    _ann(doc, 30)['entity_ids'] = [10]
    _expect_error(tmp_path, hier_data_dir, doc, 'annotation id 30',
                  'entity_ids')
    doc = _base_doc(hier_data_dir)
    _ann(doc, 30)['entity_ids'] = [10, 10]
    _expect_error(tmp_path, hier_data_dir, doc, 'annotation id 30',
                  'two different entities')


def test_error_unknown_level(tmp_path, hier_data_dir):
    doc = _base_doc(hier_data_dir)
    _ann(doc, 21)['level'] = 'object'
    _expect_error(tmp_path, hier_data_dir, doc, 'image id 1',
                  'annotation id 21', 'unknown level "object"')
    doc = _base_doc(hier_data_dir)
    doc['images'][0]['levels'] = ['entity', 'scene']
    _expect_error(tmp_path, hier_data_dir, doc, 'image id 1',
                  'unknown level "scene"')
    doc = _base_doc(hier_data_dir)
    del _ann(doc, 21)['level']
    _expect_error(tmp_path, hier_data_dir, doc, 'annotation id 21',
                  'no "level"')


def test_error_missing_levels(tmp_path, hier_data_dir):
    doc = _base_doc(hier_data_dir)
    del doc['images'][1]['levels']
    _expect_error(tmp_path, hier_data_dir, doc, 'image id psg:2',
                  '"levels"')


def test_error_rle_size(tmp_path, hier_data_dir):
    doc = _base_doc(hier_data_dir)
    _ann(doc, 40)['segmentation'] = encode_mask(np.ones((8, 8), bool))
    _expect_error(tmp_path, hier_data_dir, doc, 'image id psg:2',
                  'annotation id 40', 'RLE size [8, 8]', '[16, 20]')
    doc = _base_doc(hier_data_dir)
    doc['images'][1]['valid_region'] = encode_mask(np.ones((16, 8), bool))
    _expect_error(tmp_path, hier_data_dir, doc, 'image id psg:2',
                  'valid_region RLE size')


def test_error_relation_not_union(tmp_path, hier_data_dir):
    doc = _base_doc(hier_data_dir)
    # only the subject's polygon
    _ann(doc, 30)['segmentation'] = [[2, 2, 12, 2, 12, 12, 2, 12]]
    message = _expect_error(tmp_path, hier_data_dir, doc, 'image id 1',
                            'annotation id 30', 'not the union')
    assert 'pixels differ' in message


def test_relation_union_tolerance(tmp_path, hier_data_dir):
    doc = _base_doc(hier_data_dir)
    seg = _ann(doc, 30)['segmentation']
    seg[1] = [12, 2, 18, 2, 18, 11, 12, 11]  # one row short
    path = _write(tmp_path, doc, hier_data_dir)
    kwargs = dict(
        ann_file=path,
        data_prefix=dict(img=osp.join(hier_data_dir, 'images')),
        pipeline=[])
    with pytest.raises(HierarchicalAnnotationError):
        HierarchicalCocoDataset(**kwargs)
    ds = HierarchicalCocoDataset(relation_union_tolerance=0.1, **kwargs)
    assert len(ds) == 2


def test_error_missing_image_file(tmp_path, hier_data_dir):
    doc = _base_doc(hier_data_dir)
    doc['images'][1]['file_name'] = 'nope.png'
    _expect_error(tmp_path, hier_data_dir, doc, 'image id psg:2',
                  'nope.png', 'does not exist')
    # the check can be switched off (e.g. for remote storage)
    path = _write(tmp_path, doc, hier_data_dir)
    ds = HierarchicalCocoDataset(
        ann_file=path, data_prefix=dict(img='x/'), pipeline=[],
        check_image_files=False)
    assert len(ds) == 2


def test_error_unknown_image_and_duplicates(tmp_path, hier_data_dir):
    doc = _base_doc(hier_data_dir)
    _ann(doc, 40)['image_id'] = 5
    _expect_error(tmp_path, hier_data_dir, doc, 'image id 5',
                  'annotation id 40', 'not in "images"')
    doc = _base_doc(hier_data_dir)
    doc['annotations'].append(copy.deepcopy(_ann(doc, 40)))
    _expect_error(tmp_path, hier_data_dir, doc, 'annotation id 40',
                  'duplicate annotation id')
    doc = _base_doc(hier_data_dir)
    doc['images'].append(copy.deepcopy(doc['images'][0]))
    _expect_error(tmp_path, hier_data_dir, doc, 'image id 1',
                  'duplicate image id')


def test_skipped_entity_drops_links(tmp_path, hier_data_dir):
    doc = _base_doc(hier_data_dir)
    # entity 10 becomes empty: its part loses the link, relation 30 goes
    _ann(doc, 10)['segmentation'] = [[1, 1, 2, 1]]
    _ann(doc, 30)['segmentation'] = [[12, 2, 18, 2, 18, 12, 12, 12]]
    path = _write(tmp_path, doc, hier_data_dir)
    ds = HierarchicalCocoDataset(
        ann_file=path,
        data_prefix=dict(img=osp.join(hier_data_dir, 'images')),
        pipeline=[])
    by_id = {i['ann_id']: i for i in ds.get_data_info(0)['instances']}
    assert 10 not in by_id and 30 not in by_id
    assert by_id[20]['entity_id'] is None
    assert ds._skipped['empty entity mask'] == 1
    assert ds._skipped['relation whose entity was skipped'] == 1
    assert ds._skipped['part parent skipped (link removed)'] == 1


def test_filter_cfg(tmp_path, hier_data_dir):
    doc = _base_doc(hier_data_dir)
    doc['annotations'] = [a for a in doc['annotations'] if a['id'] != 40]
    path = _write(tmp_path, doc, hier_data_dir)
    kwargs = dict(
        ann_file=path,
        data_prefix=dict(img=osp.join(hier_data_dir, 'images')),
        pipeline=[])
    assert len(HierarchicalCocoDataset(**kwargs)) == 2
    ds = HierarchicalCocoDataset(
        filter_cfg=dict(filter_empty_gt=True), **kwargs)
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == [1]
    ds = HierarchicalCocoDataset(filter_cfg=dict(min_size=20), **kwargs)
    assert len(ds) == 1 and ds.get_data_info(0)['img_id'] == 1
    # test mode never filters
    ds = HierarchicalCocoDataset(
        filter_cfg=dict(filter_empty_gt=True, min_size=20), test_mode=True,
        **kwargs)
    assert len(ds) == 2
    # nothing left: a named error, not numpy's "need at least one array"
    with pytest.raises(HierarchicalAnnotationError,
                       match='no usable image: of 2 images, 1 have no '
                       'non-crowd annotation and 1 are smaller than 1000'):
        HierarchicalCocoDataset(
            filter_cfg=dict(filter_empty_gt=True, min_size=1000), **kwargs)
    doc['images'], doc['annotations'] = [], []
    empty = _write(tmp_path, doc, hier_data_dir)
    with pytest.raises(HierarchicalAnnotationError, match='no usable image'):
        HierarchicalCocoDataset(**dict(kwargs, ann_file=empty))


def test_lazy_init_and_serialization(hier_data_dir):
    lazy = _dataset(hier_data_dir, 'hand_written.json', lazy_init=True)
    assert not lazy._fully_initialized
    assert len(lazy) == 2  # triggers full_init
    plain = _dataset(hier_data_dir, 'hand_written.json',
                     serialize_data=False)
    serial = _dataset(hier_data_dir, 'hand_written.json',
                      serialize_data=True)
    assert serial.data_bytes is not None
    for i in range(2):
        assert serial.get_data_info(i) == plain.get_data_info(i)
    assert plain.metainfo['classes'] == ('entity', )
    assert serial.get_cat_ids(0) == [0, 0]


def test_pipeline_through_dataset(hier_data_dir):
    from mmaims.utils import register_all_modules
    register_all_modules()
    ds = HierarchicalCocoDataset(
        data_root=hier_data_dir,
        ann_file='hand_written.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadHierarchicalAnnotations'),
            dict(type='SampleTaskPrompt'),
            dict(type='PackAIMSInputs')
        ])
    out = ds[0]
    sample = out['data_samples']
    assert out['inputs'].shape == (3, 24, 32)
    assert sample.gt_instances.ann_ids.tolist() == [10, 11]
    assert sample.ignored_instances.ann_ids.tolist() == [12]
    assert sample.gt_part_instances.ann_ids.tolist() == [20, 21]
    assert sample.gt_part_instances.entity_index.tolist() == [0, -1]
    assert sample.gt_relation_instances.entity_index.tolist() == [[0, 1]]
    assert sample.task['sample_type'] == 0
    assert sample.valid_region.data.all()
    out = ds[1]
    assert out['data_samples'].valid_region.data.float().mean() < 1
