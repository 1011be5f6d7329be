# Copyright (c) mmaims contributors. All rights reserved.
"""Every converter's output (and the split's unions) loads in the dataset."""
import json
import os.path as osp

import pytest
from converter_checks import DATA, convert_all_fixtures

from mmaims.datasets.converters import build_eval_split
from mmaims.datasets.hierarchical_coco import HierarchicalCocoDataset


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp('converted_load')
    files = convert_all_fixtures(
        root,
        ppp_spec_file=osp.join(DATA, 'ppp', 'ppp_datasetspec_mini.yaml'))
    split_dir = str(root / 'split')
    build_eval_split(
        list(files.values()),
        split_dir,
        ppp_file=files['ppp'],
        psg_file=files['psg'],
        num_ppp=1)
    files['train_union'] = osp.join(split_dir, 'train.json')
    files['eval_union'] = osp.join(split_dir, 'eval.json')
    return files


@pytest.mark.parametrize(
    'name',
    ['coco', 'entityseg', 'ppp', 'paco', 'psg', 'train_union', 'eval_union'])
def test_hierarchical_coco_dataset_loads(converted, name):
    path = converted[name]
    dataset = HierarchicalCocoDataset(
        ann_file=path,
        data_prefix=dict(img=''),
        pipeline=[],
        check_image_files=False,
        test_mode=True)
    raw = json.load(open(path))
    assert len(dataset) == len(raw['images'])
    num_instances = 0
    for idx in range(len(dataset)):
        info = dataset.get_data_info(idx)
        num_instances += len(info['instances'])
        for inst in info['instances']:
            if inst['level'] == 'part' and inst['entity_id'] is not None:
                parent = next(i for i in info['instances']
                              if i['ann_id'] == inst['entity_id'])
                assert parent['level'] == 'entity'
    # the dataset drops nothing the converters wrote
    assert num_instances == len(raw['annotations'])
