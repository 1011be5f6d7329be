# Copyright (c) mmaims contributors. All rights reserved.
import copy
import pickle

import numpy as np
import pytest
from mmengine.evaluator import Evaluator

from mmaims.evaluation import FederatedMetric
from mmaims.evaluation.functional import (AP_KEYS, FederatedGroundTruth,
                                          evaluate_federated,
                                          group_predictions, metric_keys)
from mmaims.registry import METRICS


def _run(metric, samples):
    evaluator = Evaluator(metric)
    evaluator.process(data_samples=copy.deepcopy(samples), data_batch={})
    return evaluator.evaluate(len(samples))


def _plain(metrics):
    return {k[len('aims/'):]: v for k, v in metrics.items()}


def test_metric_under_evaluator_matches_offline_and_cocoeval(
        tmp_path, make_dataset, make_samples, dump_json, cocoeval_reference):
    gt_dict, preds = make_dataset(5, num_images=10)
    ann_file = dump_json(tmp_path / 'gt.json', gt_dict)
    metric = METRICS.build(dict(type='FederatedMetric', ann_file=ann_file))
    assert isinstance(metric, FederatedMetric)
    samples = make_samples(gt_dict, preds)
    metrics = _run(metric, samples)
    # Exactly the keys of docs/formats.md section 3, with the prefix.
    assert list(metrics) == [f'aims/{k}' for k in metric_keys()]
    assert all(isinstance(v, float) for v in metrics.values())
    offline = evaluate_federated(
        FederatedGroundTruth(gt_dict), group_predictions(preds))
    for key, value in offline.items():
        assert metrics[f'aims/{key}'] == pytest.approx(value, abs=1e-12), key
    ref = cocoeval_reference(gt_dict, preds, 'entity')
    assert metrics['aims/entity_mAP'] == pytest.approx(ref[0], abs=1e-9)
    # Results hold RLE, not dense masks.
    metric.results = []
    metric.process({}, [samples[2].to_dict()])
    level_preds = metric.results[0]['predictions']['masks']['entity']
    assert all(isinstance(r['counts'], str) for r in level_preds['rles'])


def test_two_ranks_equal_one_rank(tmp_path, make_dataset, make_samples,
                                  dump_json):
    gt_dict, preds = make_dataset(6, num_images=9)
    ann_file = dump_json(tmp_path / 'gt.json', gt_dict)
    samples = [s.to_dict() for s in make_samples(gt_dict, preds)]
    single = FederatedMetric(ann_file)
    single.process({}, samples)
    expected = single.compute_metrics(single.results)
    # DefaultSampler gives rank r the samples r, r + 2, ...; the results
    # travel pickled and collect_results_cpu interleaves them back.
    ranks = [FederatedMetric(ann_file) for _ in range(2)]
    for rank, metric in enumerate(ranks):
        metric.process({}, samples[rank::2])
    parts = [pickle.loads(pickle.dumps(m.results)) for m in ranks]
    gathered = []
    for pair in zip(*parts):
        gathered.extend(pair)
    gathered.extend(parts[0][len(parts[1]):])
    assert len(gathered) == len(samples)
    assert ranks[0].compute_metrics(gathered) == expected
    # Any order of gathered results gives the same metrics.
    assert ranks[1].compute_metrics(gathered[::-1]) == expected


def _federated_gt():
    from mmaims.structures import encode_mask
    h, w = 8, 8
    rng = np.random.default_rng(0)

    def box(y0, y1, x0, x1):
        m = np.zeros((h, w), bool)
        m[y0:y1, x0:x1] = True
        return encode_mask(m)

    images = [
        dict(id=1, height=h, width=w, levels=['entity', 'part']),
        dict(id=2, height=h, width=w, levels=['entity']),
        dict(id=3, height=h, width=w, levels=[]),
    ]
    anns = []
    ann_id = 1
    for img in images:
        ent_id = ann_id
        anns.append(
            dict(
                id=ann_id,
                image_id=img['id'],
                level='entity',
                segmentation=box(0, 6, 0, 6),
                iscrowd=0))
        ann_id += 1
        for (y0, y1, x0, x1) in [(0, 3, 0, 3), (3, 6, 3, 6)]:
            anns.append(
                dict(
                    id=ann_id,
                    image_id=img['id'],
                    level='part',
                    segmentation=box(y0, y1, x0, x1),
                    iscrowd=0,
                    entity_id=ent_id))
            ann_id += 1
    preds = dict(masks=[], links=[])
    mask_id = 1
    for img in images:
        ids = {}
        for level, boxes in (('entity', [(0, 6, 0, 5), (2, 8, 2, 8)
                                         ]), ('part', [(0, 3, 0, 2),
                                                       (4, 6, 3, 6),
                                                       (0, 8, 0, 8)])):
            ids[level] = []
            for b in boxes:
                preds['masks'].append(
                    dict(
                        id=mask_id,
                        image_id=img['id'],
                        level=level,
                        segmentation=box(*b),
                        score=float(rng.random())))
                ids[level].append(mask_id)
                mask_id += 1
        for p in ids['entity']:
            for c in ids['part']:
                preds['links'].append(
                    dict(
                        image_id=img['id'],
                        type='entity-part',
                        parent_id=p,
                        child_id=c,
                        score=float(rng.random())))
    return dict(images=images, annotations=anns), preds


def test_image_not_listing_a_level_changes_nothing_there(
        tmp_path, make_samples, dump_json):
    gt_dict, preds = _federated_gt()
    ann_file = dump_json(tmp_path / 'gt.json', gt_dict)
    samples = make_samples(gt_dict, preds)
    metric = FederatedMetric(ann_file)
    full = _plain(_run(metric, samples))
    # Image 1 alone is the only image listing 'part'.
    only1 = _plain(_run(FederatedMetric(ann_file), samples[:1]))
    # Images 2 and 3 predicting nothing at the part level.
    stripped = copy.deepcopy(preds)
    stripped['masks'] = [
        m for m in preds['masks'] if m['image_id'] == 1 or m['level'] != 'part'
    ]
    stripped['links'] = [x for x in preds['links'] if x['image_id'] == 1]
    no_parts = _plain(
        _run(FederatedMetric(ann_file), make_samples(gt_dict, stripped)))
    part_keys = [k for k in full if k.startswith('part_')]
    part_keys.append('entity_part_AR@100')
    for key in part_keys:
        assert full[key] == only1[key] == no_parts[key], key
    assert full['part_mAP'] > 0 and full['entity_part_AR@100'] > 0
    # Images 2 and 3 do change the entity level (2 lists it, 3 does not):
    # entity AP equals the one of images 1 and 2 only.
    only12 = _plain(_run(FederatedMetric(ann_file), samples[:2]))
    assert full['entity_mAP'] == only12['entity_mAP']
    assert full['relation_mAP'] == -1 and full['relation_mAP_nonoverlap'] \
        == -1 and full['relation_entity_AR@100'] == -1


def test_per_source_keys(tmp_path, make_dataset, make_samples, dump_json):
    gt_dict, preds = make_dataset(
        7, num_images=12, sources=('coco', 'ppp'), levels_prob=0.9)
    ann_file = dump_json(tmp_path / 'gt.json', gt_dict)
    metrics = _plain(
        _run(FederatedMetric(ann_file), make_samples(gt_dict, preds)))
    base = metric_keys()
    assert list(metrics) == base + [f'coco/{k}' for k in base
                                    ] + [f'ppp/{k}' for k in base]
    for source in ('coco', 'ppp'):
        sub = dict(
            images=[im for im in gt_dict['images'] if im['source'] == source],
            annotations=[],
            categories=gt_dict['categories'])
        ids = {im['id'] for im in sub['images']}
        sub['annotations'] = [
            a for a in gt_dict['annotations'] if a['image_id'] in ids
        ]
        alone = evaluate_federated(
            FederatedGroundTruth(sub), {
                k: v
                for k, v in group_predictions(preds).items() if k in ids
            })
        for key in base:
            assert metrics[f'{source}/{key}'] == pytest.approx(
                alone[key], abs=1e-12), (source, key)


def test_minus_one_for_level_without_evaluable_image(tmp_path, make_dataset,
                                                     make_samples, dump_json):
    gt_dict, preds = make_dataset(8, num_images=6)
    for im in gt_dict['images']:
        im['levels'] = ['entity']
    ann_file = dump_json(tmp_path / 'gt.json', gt_dict)
    metrics = _plain(
        _run(FederatedMetric(ann_file), make_samples(gt_dict, preds)))
    for level in ('part', 'relation'):
        for key in AP_KEYS:
            assert metrics[f'{level}_{key}'] == -1
    assert metrics['entity_part_AR@100'] == -1
    assert metrics['relation_entity_AR@100'] == -1
    assert 0 <= metrics['entity_mAP'] <= 1


def test_metric_errors(tmp_path, make_dataset, make_samples, dump_json):
    gt_dict, preds = make_dataset(9, num_images=3)
    ann_file = dump_json(tmp_path / 'gt.json', gt_dict)
    samples = make_samples(gt_dict, preds)
    metric = FederatedMetric(ann_file)
    metric.process({}, [samples[0], samples[0]])
    with pytest.raises(ValueError, match='image id 1 was processed twice'):
        metric.compute_metrics(metric.results)
    stray = samples[1].clone()
    stray.set_metainfo(dict(img_id=99))
    metric = FederatedMetric(ann_file)
    metric.process({}, [stray])
    with pytest.raises(ValueError, match='image id 99 is not in'):
        metric.compute_metrics(metric.results)
    bad = dict(
        gt_dict,
        annotations=[
            dict(gt_dict['annotations'][0], level='part', entity_id=12345)
        ])
    with pytest.raises(ValueError, match='annotation id 1 .*points at 12345'):
        FederatedMetric(dump_json(tmp_path / 'bad.json', bad))
    # A link row outside the sample's entity predictions.
    fed_gt, fed_preds = _federated_gt()
    fed_file = dump_json(tmp_path / 'fed.json', fed_gt)
    broken = make_samples(fed_gt, fed_preds)[0]
    assert len(broken.pred_entity_part_links) > 0
    broken.pred_entity_part_links.parent_index[:] = 1000
    metric = FederatedMetric(fed_file)
    metric.process({}, [broken])
    with pytest.raises(
            ValueError, match='image id 1: a link of type "entity-part"'):
        metric.compute_metrics(metric.results)


def test_progress_is_shown_without_flooding_a_log(tmp_path, make_dataset,
                                                  make_samples, dump_json,
                                                  capfd):
    gt_dict, preds = make_dataset(3, num_images=30)
    metric = METRICS.build(
        dict(type='FederatedMetric', ann_file=dump_json(tmp_path / 'gt.json',
                                                        gt_dict)))
    _run(metric, make_samples(gt_dict, preds))
    captured = capfd.readouterr()
    assert 'FederatedMetric' in captured.err and '30/30' in captured.err
    # redrawn about once a second, not once per image (30 redraws)
    assert (captured.out + captured.err).count('\r') < 15
