# Copyright (c) mmaims contributors. All rights reserved.
import json
import os
import pickle
import re

import numpy as np
import pytest

from mmaims.datasets import HierarchicalCocoDataset
from mmaims.evaluation.functional import FederatedGroundTruth
from mmaims.structures import decode_rle, encode_mask
from mmaims.structures.annotations import (AnnotationRecord,
                                           HierarchicalAnnotationError,
                                           ImageRecord, load_annotation_file,
                                           parse_annotations)

H, W = 6, 8
FILE = 'ann.json'


def _box(y1, y2, x1, x2, h=H, w=W):
    m = np.zeros((h, w), dtype=bool)
    m[y1:y2, x1:x2] = True
    return m


def _uncompressed(mask):
    """COCO uncompressed RLE: column-major runs, starting with zeros."""
    flat = mask.flatten(order='F')
    bounds = np.concatenate([[0],
                             np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    counts = np.diff(bounds).tolist()
    return dict(size=list(mask.shape), counts=[0] * int(flat[0]) + counts)


E1, E2 = _box(0, 3, 0, 4), _box(0, 4, 4, 8)


def _doc():
    """Image 7: entities 1 (RLE, off-by-one bbox), 2 (uncompressed RLE) and
    6 (crowd); parts 3 (polygon, of 1) and 4 (degenerate polygon, of 2);
    relation 5 = 1 u 2. Image "b:8": entity 9, no source."""
    return dict(
        images=[
            dict(
                id=7,
                file_name='a.png',
                height=H,
                width=W,
                levels=['part', 'entity', 'relation'],
                source='toy',
                valid_region=encode_mask(_box(0, H, 0, 6)),
                license=1),
            dict(
                id='b:8',
                file_name='b.png',
                height=4,
                width=4,
                levels=['entity']),
        ],
        annotations=[
            dict(
                id=1,
                image_id=7,
                level='entity',
                category_id=5,
                segmentation=encode_mask(E1),
                bbox=[0, 0, 3, 3]),
            dict(
                id=2,
                image_id=7,
                level='entity',
                segmentation=_uncompressed(E2),
                bbox=[4, 0, 4, 4]),
            dict(
                id=3,
                image_id=7,
                level='part',
                entity_id=1,
                segmentation=[[0, 0, 2, 0, 2, 2, 0, 2]],
                iscrowd=0),
            dict(
                id=4,
                image_id=7,
                level='part',
                entity_id=2,
                segmentation=[[5, 1, 6, 1]]),
            dict(
                id=5,
                image_id=7,
                level='relation',
                entity_ids=[1, 2],
                predicate='beside',
                segmentation=encode_mask(E1 | E2),
                attribute='kept or ignored'),
            dict(
                id=6,
                image_id=7,
                level='entity',
                iscrowd=1,
                segmentation=encode_mask(_box(4, 6, 0, 2))),
            dict(
                id=9,
                image_id='b:8',
                level='entity',
                segmentation=encode_mask(_box(1, 3, 1, 3, 4, 4))),
        ],
        categories=[dict(id=5, name='thing')])


def _ann(doc, ann_id):
    return next(a for a in doc['annotations'] if a['id'] == ann_id)


def test_parse_valid_file():
    images = parse_annotations(_doc(), FILE)
    assert [type(img) for img in images] == [ImageRecord, ImageRecord]
    img, other = images
    assert (img.id, img.file_name, img.height, img.width) == (7, 'a.png', H, W)
    assert img.levels == ['part', 'entity', 'relation']
    assert img.source == 'toy'
    assert (decode_rle(img.valid_region) == _box(0, H, 0, 6)).all()
    assert [a.id for a in img.annotations] == [1, 2, 3, 4, 5, 6]
    for ann in img.annotations:
        assert isinstance(ann, AnnotationRecord)
        assert isinstance(ann.segmentation['counts'], str)
        assert ann.segmentation['size'] == [H, W]
    a = {ann.id: ann for ann in img.annotations}
    assert (decode_rle(a[1].segmentation) == E1).all()
    assert (decode_rle(a[2].segmentation) == E2).all()
    assert (a[1].area, a[1].bbox, a[1].bbox_fixed) == (12, [0, 0, 4, 3], True)
    assert (a[2].bbox, a[2].bbox_fixed) == ([4, 0, 4, 4], False)
    assert a[1].category_id == 5 and a[2].category_id is None
    assert a[3].area > 0 and a[3].entity_id == 1 and not a[3].bbox_fixed
    # a polygon of two points is an empty mask, not an error
    assert a[4].area == 0 and a[4].bbox == [0, 0, 0, 0]
    assert not decode_rle(a[4].segmentation).any()
    assert a[5].entity_ids == [1, 2] and a[5].predicate == 'beside'
    assert a[5].entity_id is None and a[1].entity_ids is None
    assert a[6].iscrowd and not a[1].iscrowd
    assert (other.id, other.source) == ('b:8', 'default')
    assert other.valid_region is None
    assert [a.id for a in other.annotations] == [9]


def _set(ann_id, key, value):

    def mutate(doc):
        _ann(doc, ann_id)[key] = value

    return mutate


def _delete(ann_id, key):

    def mutate(doc):
        del _ann(doc, ann_id)[key]

    return mutate


def _image(index, **values):

    def mutate(doc):
        doc['images'][index].update(values)

    return mutate


def _append(ann):

    def mutate(doc):
        doc['annotations'].append(ann)

    return mutate


ANN_3 = 'ann.json: annotation id 3 (image id 7): '
ANN_5 = 'ann.json: annotation id 5 (image id 7): '
#: name: (mutation of _doc(), start of the error message)
ERRORS = {
    # annotation errors: file, annotation id and image id
    'unknown level':
    (_set(3, 'level', 'object'),
     ANN_3 + 'unknown or missing level: unknown level "object"'),
    'no level': (_delete(3, 'level'), ANN_3 + 'unknown or missing level: '
                 'the annotation has no "level"'),
    'no segmentation':
    (_delete(3, 'segmentation'), ANN_3 + 'missing "segmentation"'),
    'mask size': (_set(1, 'segmentation', encode_mask(_box(0, 2, 0, 2, 3, 3))),
                  'ann.json: annotation id 1 (image id 7): segmentation RLE '
                  'size [3, 3]: mask size [3, 3] differs from the image size '
                  '[6, 8]'),
    'uncompressed RLE sum': (_set(2, 'segmentation',
                                  dict(size=[H, W], counts=[24, 4])),
                             'ann.json: annotation id 2 (image id 7): '
                             'invalid segmentation: uncompressed RLE counts '
                             'sum to 28, not height x width = 48'),
    'bad segmentation': (_set(3, 'segmentation', [0, 0, 2, 0, 2, 2]),
                         ANN_3 + 'invalid segmentation'),
    'dangling entity_id':
    (_set(3, 'entity_id',
          77), ANN_3 + '"entity_id" points at 77, which is not an entity '
     'annotation of the same image (dangling '
     'entity_id: no annotation of this image has that '
     'id)'),
    'entity_id at a part':
    (_set(3, 'entity_id',
          4), ANN_3 + '"entity_id" points at 4, which is not an entity '
     'annotation of the same image (dangling '
     'entity_id: annotation 4 is of level "part")'),
    'entity of another image':
    (_set(5, 'entity_ids',
          [1, 9]), ANN_5 + '"entity_ids" points at 9, which is not an '
     'entity annotation of the same image '
     '(dangling entity_ids'),
    'one entity': (_set(5, 'entity_ids', [1]),
                   ANN_5 + '"entity_ids" must be a list of two entity ids '
                   '[subject_id, object_id], got [1]'),
    'same entities': (_set(5, 'entity_ids', [2, 2]),
                      ANN_5 + 'a relation needs two different entities, got '
                      'entity_ids [2, 2]'),
    'no entity_ids': (_delete(5, 'entity_ids'),
                      ANN_5 + '"entity_ids" must be a list of two entity ids '
                      '[subject_id, object_id], got None'),
    'not the union': (_set(5, 'segmentation', encode_mask(E1)),
                      ANN_5 + 'relation mask is not the union of its entities '
                      '[1, 2] (16 pixels differ)'),
    'duplicate annotation id': (
        _append(
            dict(
                id=3,
                image_id='b:8',
                level='entity',
                segmentation=encode_mask(_box(0, 1, 0, 1, 4, 4)))),
        'ann.json: annotation id 3: duplicate annotation id (first on image '
        'id 7, again on image id b:8)'),
    'unknown image': (_set(9, 'image_id', 99), 'ann.json: annotation id 9: '
                      'unknown image id 99 (not in "images")'),
    'no annotation id': (_append(dict(image_id=7, level='part')),
                         'ann.json: an annotation has no "id" (image id 7)'),
    # image errors: file and image id
    'unknown level in levels': (_image(1, levels=['entity', 'scene']),
                                'ann.json: image id b:8: unknown level '
                                '"scene" in "levels"'),
    'levels not a list': (_image(1, levels='entity'),
                          'ann.json: image id b:8: "levels" must be a list '
                          'of level names'),
    'zero height': (_image(0, height=0), 'ann.json: image id 7: "height" '
                    'must be a positive integer, got 0'),
    'empty valid_region': (_image(0, valid_region=[[1, 1, 2, 1]]),
                           'ann.json: image id 7: valid_region is empty'),
    'valid_region size':
    (_image(0, valid_region=encode_mask(_box(0, 1, 0, 1, 2, 2))),
     'ann.json: image id 7: valid_region RLE '
     'size [2, 2]'),
    'duplicate image id': (_image(1, id=7),
                           'ann.json: image id 7: duplicate image id'),
}


@pytest.mark.parametrize('name', ERRORS)
def test_parse_errors(name):
    mutate, message = ERRORS[name]
    doc = _doc()
    mutate(doc)
    with pytest.raises(HierarchicalAnnotationError) as e:
        parse_annotations(doc, FILE)
    assert str(e.value).startswith(message), str(e.value)


def test_missing_image_keys():
    for key in ('height', 'width', 'levels'):
        doc = _doc()
        del doc['images'][1][key]
        with pytest.raises(
                HierarchicalAnnotationError,
                match=f'^ann.json: image id b:8: missing "{key}"$'):
            parse_annotations(doc, FILE)
    doc = _doc()
    del doc['images'][1]['id']
    with pytest.raises(
            HierarchicalAnnotationError,
            match=r'^ann.json: images\[1\] has no "id"'):
        parse_annotations(doc, FILE)
    for bad in ([], dict(annotations=[]), dict(images={})):
        with pytest.raises(
                HierarchicalAnnotationError,
                match='^ann.json: not a hierarchical COCO '
                'annotation file'):
            parse_annotations(bad, FILE)


def test_lenient_relations_and_union_tolerance():
    doc = _doc()
    del _ann(doc, 5)['entity_ids']
    _ann(doc, 5)['segmentation'] = encode_mask(E1)
    relation = parse_annotations(
        doc, FILE, strict_relations=False)[0].annotations[4]
    assert relation.entity_ids is None
    # given entity_ids are still checked
    _ann(doc, 5)['entity_ids'] = [1, 3]
    with pytest.raises(
            HierarchicalAnnotationError, match='dangling entity_ids'):
        parse_annotations(doc, FILE, strict_relations=False)
    _ann(doc, 5)['entity_ids'] = [1, 2]
    assert parse_annotations(doc, FILE, strict_relations=False)
    # 16 of the 28 union pixels differ
    with pytest.raises(HierarchicalAnnotationError, match='not the union'):
        parse_annotations(doc, FILE, relation_union_tolerance=0.5)
    assert parse_annotations(doc, FILE, relation_union_tolerance=0.6)


class _MakeDir:
    """Unpickling this calls ``os.mkdir(path)``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path, )


def test_loader_reads_json_only(tmp_path):
    from mmengine.fileio import load

    # the payloads are live: mmengine's load, which picks the format from
    # the extension, runs them
    pkl, yml = tmp_path / 'ann.pkl', tmp_path / 'ann.yaml'
    proof = tmp_path / 'proof'
    pkl.write_bytes(pickle.dumps(_MakeDir(str(proof))))
    load(str(pkl))
    assert proof.is_dir()
    proof.rmdir()
    yml.write_text(f'!!python/object/apply:os.mkdir ["{proof}"]\n')
    load(str(yml))
    assert proof.is_dir()
    proof.rmdir()

    created = tmp_path / 'created'
    pkl.write_bytes(pickle.dumps(_MakeDir(str(created))))
    yml.write_text(f'!!python/object/apply:os.mkdir ["{created}"]\n')
    for path in (pkl, yml):
        with pytest.raises(HierarchicalAnnotationError) as e:
            load_annotation_file(str(path))
        assert str(e.value).startswith(f'{path}: not valid JSON')
        assert not created.exists()

    # JSON is read whatever the name
    pkl.write_text(json.dumps(dict(images=[])))
    assert load_annotation_file(str(pkl)) == dict(images=[])


def _load_both(path):
    """The errors of the dataset and of the metric's GT on one file."""
    with pytest.raises(HierarchicalAnnotationError) as from_dataset:
        HierarchicalCocoDataset(
            ann_file=path,
            data_prefix=dict(img=''),
            pipeline=[],
            check_image_files=False)
    with pytest.raises(HierarchicalAnnotationError) as from_metric:
        FederatedGroundTruth.from_file(path)
    return str(from_dataset.value), str(from_metric.value)


@pytest.mark.parametrize('name', [
    'unknown level', 'mask size', 'dangling entity_id', 'same entities',
    'duplicate annotation id', 'unknown image', 'unknown level in levels',
    'valid_region size'
])
def test_dataset_and_metric_report_the_same_error(tmp_path, name):
    mutate, message = ERRORS[name]
    doc = _doc()
    mutate(doc)
    path = str(tmp_path / FILE)
    with open(path, 'w') as f:
        json.dump(doc, f)
    from_dataset, from_metric = _load_both(path)
    assert from_dataset == from_metric
    assert from_dataset.startswith(message.replace(FILE, path,
                                                   1)), from_dataset


def test_dataset_and_metric_refuse_a_pickle(tmp_path):
    path = tmp_path / 'ann.pkl'
    created = tmp_path / 'created'
    path.write_bytes(pickle.dumps(_MakeDir(str(created))))
    from_dataset, from_metric = _load_both(str(path))
    assert from_dataset == from_metric
    assert re.match(f'{re.escape(str(path))}: not valid JSON', from_dataset)
    assert not created.exists()


def test_consumers_of_one_file(tmp_path):
    """The metric reads relations leniently and keeps empty masks; the
    dataset needs complete relations and skips empty masks."""
    path = str(tmp_path / FILE)
    with open(path, 'w') as f:
        json.dump(_doc(), f)
    gt = FederatedGroundTruth.from_file(path)
    assert gt.images[7].masks['part']['ann_ids'].tolist() == [3, 4]
    assert gt.images[7].pairs['entity-part'].tolist() == [[0, 0], [1, 1]]
    dataset = HierarchicalCocoDataset(
        ann_file=path,
        data_prefix=dict(img=''),
        pipeline=[],
        check_image_files=False)
    info = dataset.get_data_info(0)
    assert [i['ann_id'] for i in info['instances']] == [1, 2, 3, 5, 6]
    assert dataset._skipped == {'empty part mask': 1}
    assert dataset._bbox_fixed == 1

    doc = _doc()
    del _ann(doc, 5)['entity_ids']
    with open(path, 'w') as f:
        json.dump(doc, f)
    assert FederatedGroundTruth.from_file(
        path).images[7].pairs['relation-entity'].shape == (0, 2)
    with pytest.raises(
            HierarchicalAnnotationError, match='annotation id 5 .*got None'):
        HierarchicalCocoDataset(
            ann_file=path,
            data_prefix=dict(img=''),
            pipeline=[],
            check_image_files=False)
    # the dataset needs the image file name
    doc = _doc()
    doc['images'] = doc['images'][:1]
    doc['annotations'] = [a for a in doc['annotations'] if a['id'] != 9]
    del doc['images'][0]['file_name']
    with open(path, 'w') as f:
        json.dump(doc, f)
    with pytest.raises(
            HierarchicalAnnotationError,
            match=re.escape(f'{path}: image id 7: missing '
                            '"file_name"')):
        HierarchicalCocoDataset(
            ann_file=path,
            data_prefix=dict(img=''),
            pipeline=[],
            check_image_files=False)
    assert FederatedGroundTruth.from_file(path).image_ids == [7]
