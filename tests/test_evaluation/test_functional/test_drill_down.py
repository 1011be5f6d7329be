# Copyright (c) mmaims contributors. All rights reserved.
"""Drill-down metrics on a hand-built 8 x 8 ground truth, with values worked
out by hand (docs/formats.md section 3, "Drill-down").

Image 1 lists part and entity: E10 (top half) has parts P11 (left) and P12
(right); E20 (bottom left) has P21 and a crowd part P22; E30 has no part.
Image 2 lists entity and relation: R42 joins E40 (left half) and E41.
Image 3 lists entity only: its entity with a part and its relation are
candidates that are skipped, never scored.
"""
import numpy as np
import pytest

from mmaims.evaluation.functional import (FederatedGroundTruth,
                                          evaluate_federated,
                                          group_predictions)
from mmaims.structures import encode_mask, merge_rles, validate_predictions

H = W = 8


def box(y0, y1, x0, x1):
    mask = np.zeros((H, W), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


MASKS = {
    10: box(0, 4, 0, 8), 11: box(0, 4, 0, 4), 12: box(0, 4, 4, 8),
    20: box(4, 8, 0, 4), 21: box(4, 8, 0, 2), 22: box(4, 8, 2, 4),
    30: box(4, 8, 4, 8),
    40: box(0, 8, 0, 4), 41: box(0, 8, 4, 6), 42: box(0, 8, 0, 6),
    50: box(0, 4, 0, 8), 51: box(0, 4, 0, 4), 52: box(4, 8, 0, 8),
    53: box(0, 8, 0, 8),
}  # yapf: disable


def ann(ann_id, image_id, level, **extra):
    return dict(
        id=ann_id,
        image_id=image_id,
        level=level,
        category_id=1,
        segmentation=encode_mask(MASKS[ann_id]),
        iscrowd=int(extra.pop('crowd', False)),
        **extra)


def ground_truth():
    return FederatedGroundTruth(_gt_dict())


def output(*items):
    """Masks (GT ids or arrays) with scores, as a prompt's output."""
    rles, scores = [], []
    for item, score in items:
        mask = MASKS[item] if isinstance(item, int) else item
        rles.append(encode_mask(mask))
        scores.append(score)
    return dict(rles=rles, scores=np.array(scores, dtype=np.float64))


def evaluate(prompted_outputs=None, one_step=None):
    """Metrics of drill-down outputs ``{image: {type: {ann_id: output}}}``
    and one-step predictions ``{image: {level: output}}``."""
    gt = ground_truth()
    predictions = {}
    for img_id in (1, 2, 3):
        preds = dict(masks=dict((one_step or {}).get(img_id, {})))
        if prompted_outputs is not None:
            preds['prompted'] = prompted_outputs.get(img_id, {})
        predictions[img_id] = preds
    return evaluate_federated(
        gt,
        predictions,
        drill_down=True,
        prompted=prompted_outputs is not None)


PERFECT = {
    1: {
        'entity-part': {
            10: output((11, 0.9), (12, 0.8)),
            20: output((21, 0.9))
        }
    },
    2: {
        'relation-entity': {
            42: output((40, 0.9), (41, 0.8))
        }
    },
}


def test_prompts_and_skipped_candidates():
    gt = ground_truth()
    image = gt.images[1]
    assert sorted(image.prompts['entity-part']) == [10, 20]
    assert image.prompts['entity-part'][10]['targets'].tolist() == [0, 1]
    assert image.prompts['relation-entity'] == {}
    image = gt.images[2]
    prompt = image.prompts['relation-entity'][42]
    # the prompt is the union of the two entities; targets are their rows
    assert prompt['rle'] == merge_rles(
        [encode_mask(MASKS[40]), encode_mask(MASKS[41])])
    assert prompt['targets'].tolist() == [0, 1]
    image = gt.images[3]
    assert image.prompts == {'entity-part': {}, 'relation-entity': {}}
    assert image.prompts_skipped['entity-part'] == {
        'image does not list part': 1
    }
    assert image.prompts_skipped['relation-entity'] == {
        'image does not list relation': 1
    }


def test_perfect_drill_down_scores_one():
    metrics = evaluate(PERFECT)
    for key in ('drill_part_mAP', 'drill_part_AR@100', 'drill_entity_mAP',
                'drill_entity_AR@100'):
        # COCO's precision tp / (tp + fp + eps) is 1 - 1e-16
        assert metrics[key] == pytest.approx(1.0, abs=1e-12), key
    assert metrics['drill_part_prompts'] == 2
    assert metrics['drill_entity_prompts'] == 1
    # image 3's candidates are counted, not scored as misses
    assert metrics['drill_part_skipped'] == 1
    assert metrics['drill_entity_skipped'] == 1


def test_returning_the_prompt_itself():
    metrics = evaluate({
        1: {
            'entity-part': {
                10: output((10, 1.0)),
                20: output((20, 1.0))
            }
        },
        2: {
            'relation-entity': {
                42: output((42, 1.0))
            }
        },
    })
    # E10 vs. its halves: IoU 0.5, one of two parts found at t = 0.5 only:
    # precision 1 on 51 of 101 recall points at one of 10 thresholds.
    # E20 vs. P21 (the crowd P22 is ignored): IoU 0.5, the only part found
    # at t = 0.5: AP 1 at one threshold.
    ap = {10: 51 / 101 / 10, 20: 1 / 10}
    ar = {10: 0.5 / 10, 20: 1 / 10}
    assert metrics['drill_part_mAP'] == pytest.approx((ap[10] + ap[20]) / 2)
    assert metrics['drill_part_AR@100'] == pytest.approx((ar[10] + ar[20]) / 2)
    # R42 vs. E40: IoU 32 / 48 = 0.67, one of two entities at 4 thresholds
    assert metrics['drill_entity_mAP'] == pytest.approx(4 * 51 / 101 / 10)
    assert metrics['drill_entity_AR@100'] == pytest.approx(4 * 0.5 / 10)


def test_empty_output_scores_zero():
    metrics = evaluate({})
    for key in ('drill_part_mAP', 'drill_part_AR@100', 'drill_entity_mAP',
                'drill_entity_AR@100'):
        assert metrics[key] == 0.0, key
    assert metrics['drill_part_prompts'] == 2


def test_crowd_parts_are_ignored():
    outputs = {1: {'entity-part': dict(PERFECT[1]['entity-part'])}}
    # finding the crowd part as well costs nothing
    outputs[1]['entity-part'][20] = output((21, 0.9), (22, 0.95))
    metrics = evaluate(outputs)
    assert metrics['drill_part_mAP'] == pytest.approx(1.0, abs=1e-12)
    assert metrics['drill_part_AR@100'] == 1.0


def test_restricted_reference_keeps_masks_half_inside_the_prompt():
    half_inside = box(2, 6, 0, 4)  # 8 of its 16 pixels in E10, 8 in E20
    one_step = {
        1: {
            'part': output((11, 0.9), (half_inside, 0.7), (30, 0.8))
        }
    }
    metrics = evaluate(None, one_step)
    # E10: P11 found first (recall 0.5 at every threshold), then the half
    # mask as a false positive; the mask on E30 is outside. E20: only the
    # half mask (IoU 0.2 with P21), a false positive.
    assert metrics['restricted_part_mAP'] == pytest.approx((51 / 101 + 0) / 2)
    assert metrics['restricted_part_AR@100'] == pytest.approx((0.5 + 0) / 2)
    # no one-step entity prediction: the relation prompt gets nothing
    assert metrics['restricted_entity_mAP'] == 0.0
    # without drill-down outputs the drill_* values are not evaluated
    assert metrics['drill_part_mAP'] == -1.0
    assert metrics['drill_entity_AR@100'] == -1.0
    assert metrics['drill_part_prompts'] == 2


def test_output_on_a_skipped_prompt_is_not_scored():
    outputs = dict(PERFECT)
    outputs[3] = {'entity-part': {50: output((51, 0.9))}}
    assert evaluate(outputs) == evaluate(PERFECT)


def test_output_naming_a_non_parent_annotation_is_an_error():
    outputs = {1: {'entity-part': {11: output((11, 0.9))}}}
    with pytest.raises(ValueError, match='image id 1.*annotation id 11'):
        evaluate(outputs)


def test_prediction_file_with_prompts():
    """The same outputs written as a prediction file score the same."""
    gt = ground_truth()
    masks, prompts = [], []
    for img_id, by_type in PERFECT.items():
        for link_type, by_ann in by_type.items():
            for ann_id, out in by_ann.items():
                prompts.append(
                    dict(
                        id=len(prompts) + 1,
                        image_id=img_id,
                        type=link_type,
                        ann_id=ann_id))
                for rle, score in zip(out['rles'], out['scores']):
                    masks.append(
                        dict(
                            id=len(masks) + 1,
                            image_id=img_id,
                            level='part'
                            if link_type == 'entity-part' else 'entity',
                            segmentation=rle,
                            score=float(score),
                            prompt_id=prompts[-1]['id']))
    # a listed prompt without masks is an empty output
    prompts.append(dict(id=99, image_id=3, type='entity-part', ann_id=50))
    file_dict = validate_predictions(
        dict(masks=masks, links=[], prompts=prompts), gt)
    grouped = group_predictions(file_dict)
    offline = evaluate_federated(gt, grouped, drill_down=True, prompted=True)
    assert offline == evaluate(PERFECT)
    # drill-down outputs are not one-step predictions
    assert offline['part_mAP'] == 0.0


@pytest.mark.parametrize('edit, message', [
    (lambda p: p['prompts'][0].update(type='part-entity'),
     'unknown type "part-entity"'),
    (lambda p: p['prompts'][0].update(ann_id='10'),
     "ann_id must be an integer, got '10'"),
    (lambda p: p['prompts'].append(dict(p['prompts'][0])),
     'duplicate prompt id'),
    (lambda p: p['masks'][0].update(prompt_id=7), 'prompt_id 7 is not'),
    (lambda p: p['masks'][0].update(image_id=2),
     'prompt_id 1 is a prompt of image id 1'),
    (lambda p: p['links'].append(
        dict(image_id=1, type='entity-part', parent_id=2, child_id=1,
             score=1.0)), 'is a drill-down output'),
])
def test_prediction_file_prompt_errors(edit, message):
    gt = ground_truth()
    preds = dict(
        masks=[
            dict(
                id=1,
                image_id=1,
                level='part',
                segmentation=encode_mask(MASKS[11]),
                score=0.5,
                prompt_id=1),
            dict(
                id=2,
                image_id=1,
                level='entity',
                segmentation=encode_mask(MASKS[10]),
                score=0.5)
        ],
        links=[],
        prompts=[dict(id=1, image_id=1, type='entity-part', ann_id=10)])
    edit(preds)
    with pytest.raises(ValueError, match=message):
        validate_predictions(preds, gt)


def _gt_dict():
    images, annotations = [], []
    for img_id, levels in ((1, ['part', 'entity']), (2, ['entity',
                                                         'relation']),
                           (3, ['entity'])):
        images.append(
            dict(
                id=img_id,
                file_name=f'{img_id}.png',
                height=H,
                width=W,
                levels=levels))
    for ann_id, image_id, level, extra in (
            (10, 1, 'entity', {}), (11, 1, 'part', dict(entity_id=10)),
            (12, 1, 'part', dict(entity_id=10)), (20, 1, 'entity', {}),
            (21, 1, 'part', dict(entity_id=20)),
            (22, 1, 'part', dict(entity_id=20, crowd=True)),
            (30, 1, 'entity', {}), (40, 2, 'entity', {}),
            (41, 2, 'entity', {}),
            (42, 2, 'relation', dict(entity_ids=[40, 41])),
            (50, 3, 'entity', {}), (51, 3, 'part', dict(entity_id=50)),
            (52, 3, 'entity', {}),
            (53, 3, 'relation', dict(entity_ids=[50, 52]))):
        annotations.append(ann(ann_id, image_id, level, **extra))
    return dict(
        images=images,
        annotations=annotations,
        categories=[dict(id=1, name='thing')])


def test_metric_transform_and_dump_agree(tmp_path):
    """The test pipeline's prompts (LoadDrillDownPrompts on the dataset),
    the model's field, FederatedMetric(drill_down=True) and the offline
    score of the dumped file all agree."""
    import copy
    import json

    import torch
    from mmdet.structures import DetDataSample
    from mmengine.evaluator import Evaluator
    from mmengine.structures import InstanceData

    from mmaims.datasets import HierarchicalCocoDataset
    from mmaims.datasets.transforms import LoadDrillDownPrompts
    from mmaims.evaluation import DumpAIMSPredictions, FederatedMetric
    from mmaims.structures import PRED_FIELDS, load_predictions

    ann_file = str(tmp_path / 'gt.json')
    with open(ann_file, 'w') as f:
        json.dump(_gt_dict(), f)
    dataset = HierarchicalCocoDataset(
        ann_file=ann_file, test_mode=True, check_image_files=False)
    samples = []
    for index in range(len(dataset)):
        info = LoadDrillDownPrompts()(dataset.get_data_info(index))
        prompts = info['drill_down_prompts']
        sample = DetDataSample(
            metainfo=dict(
                img_id=info['img_id'],
                ori_shape=(H, W),
                drill_down_prompts=prompts))
        for field in PRED_FIELDS.values():
            sample.set_field(
                InstanceData(
                    masks=torch.zeros((0, H, W), dtype=torch.bool),
                    scores=torch.zeros(0)), field)
        masks, scores, index_ = [], [], []
        for row, prompt in enumerate(prompts):
            out = PERFECT[info['img_id']][prompt['type']][prompt['ann_id']]
            masks += [decode(r) for r in out['rles']]
            scores += out['scores'].tolist()
            index_ += [row] * len(out['rles'])
        sample.pred_prompted_instances = InstanceData(
            masks=torch.from_numpy(np.array(masks, dtype=bool)).reshape(
                -1, H, W),
            scores=torch.tensor(scores),
            prompt_index=torch.tensor(index_, dtype=torch.long))
        samples.append(sample)
    # the transform gives the metric's prompts: image 3 has none
    assert [len(s.drill_down_prompts) for s in samples] == [2, 1, 0]

    out_file = str(tmp_path / 'pred.json')
    evaluator = Evaluator([
        FederatedMetric(ann_file, drill_down=True),
        DumpAIMSPredictions(out_file_path=out_file)
    ])
    evaluator.process(data_samples=copy.deepcopy(samples), data_batch={})
    metrics = evaluator.evaluate(len(samples))
    expected = evaluate(PERFECT)
    for key, value in expected.items():
        assert metrics[f'aims/{key}'] == pytest.approx(value, abs=1e-6), key
    # the file holds the prompts and their masks; scored offline it gives
    # the same values
    loaded = load_predictions(out_file, _gt_dict())
    assert [(p['type'], p['ann_id'], p['image_id'])
            for p in loaded['prompts']] == [('entity-part', 10, 1),
                                            ('entity-part', 20, 1),
                                            ('relation-entity', 42, 2)]
    offline = evaluate_federated(
        FederatedGroundTruth(_gt_dict()),
        group_predictions(loaded),
        drill_down=True,
        prompted=True)
    for key, value in offline.items():
        assert metrics[f'aims/{key}'] == pytest.approx(value, abs=1e-6), key


def test_metric_says_when_the_pipeline_gives_no_prompts(tmp_path):
    import json

    from mmdet.structures import DetDataSample

    from mmaims.evaluation import FederatedMetric
    ann_file = str(tmp_path / 'gt.json')
    with open(ann_file, 'w') as f:
        json.dump(_gt_dict(), f)
    metric = FederatedMetric(ann_file, drill_down=True)
    metric.process({}, [DetDataSample(metainfo=dict(img_id=1)).to_dict()])
    with pytest.raises(ValueError, match='LoadDrillDownPrompts'):
        metric.compute_metrics(metric.results)


def decode(rle):
    from mmaims.structures import decode_rle
    return decode_rle(rle).astype(bool)


def test_rough_prompts_restrict_the_reference_and_tag_the_keys():
    """With rough prompts the reference keeps the one-step masks inside
    the prompt given (not the exact one) and every key carries the tag."""
    gt = ground_truth()
    one_step = dict(masks=dict(part=output((11, 0.9), (30, 0.8))))
    predictions = {1: one_step}
    exact = evaluate_federated(gt, predictions, drill_down=True)
    # E10 given as the whole image: the mask on E30 is inside it now
    rough = dict(one_step, prompt_masks={
        'entity-part': {10: encode_mask(np.ones((H, W), bool))}
    })
    tagged = evaluate_federated(
        gt, {1: rough}, drill_down=True, drill_down_tag='box')
    assert 'drill_box_part_mAP' in tagged and 'drill_part_mAP' not in tagged
    assert tagged['drill_box_part_prompts'] == 2
    # E10: P11 first (recall 0.5 at every threshold), then a false
    # positive: the same AP as without it, since it ranks last
    assert tagged['restricted_box_part_mAP'] == pytest.approx(
        exact['restricted_part_mAP'])
    assert tagged['restricted_box_part_R@0.75'] == exact[
        'restricted_part_R@0.75'] == pytest.approx((0.5 + 0) / 2)
    # ranked first, the extra mask costs precision
    rough['masks'] = dict(part=output((11, 0.8), (30, 0.9)))
    tagged = evaluate_federated(
        gt, {1: rough}, drill_down=True, drill_down_tag='box')
    assert tagged['restricted_box_part_mAP'] < exact['restricted_part_mAP']


def test_transform_gives_rough_prompts(tmp_path):
    import json

    from mmaims.datasets import HierarchicalCocoDataset
    from mmaims.datasets.transforms import LoadDrillDownPrompts
    ann_file = str(tmp_path / 'gt.json')
    with open(ann_file, 'w') as f:
        json.dump(_gt_dict(), f)
    dataset = HierarchicalCocoDataset(
        ann_file=ann_file, test_mode=True, check_image_files=False)
    info = dataset.get_data_info(1)  # image 2: the relation R42
    exact = LoadDrillDownPrompts()(dict(info))['drill_down_prompts']
    box = LoadDrillDownPrompts(perturbation='box')(
        dict(info))['drill_down_prompts']
    assert exact[0]['perturbation'] == '' and box[0]['perturbation'] == 'box'
    # the model is told a perturbed prompt is rough, unless the transform
    # says otherwise
    assert exact[0]['rough'] is False and box[0]['rough'] is True
    told = LoadDrillDownPrompts(perturbation='box', rough=False)(
        dict(info))['drill_down_prompts']
    assert told[0]['rough'] is False and told[0]['mask'] == box[0]['mask']
    np.testing.assert_array_equal(decode(exact[0]['mask']), MASKS[42])
    np.testing.assert_array_equal(decode(box[0]['mask']), MASKS[42])
    strokes = [
        LoadDrillDownPrompts(
            perturbation=dict(type='strokes', num=1, width=1),
            seed=seed)(dict(info))['drill_down_prompts'][0]['mask']
        for seed in (0, 0, 1)
    ]
    assert strokes[0] == strokes[1] and strokes[0] != strokes[2]
    assert not (decode(strokes[0]) & ~MASKS[42]).any()


@pytest.mark.parametrize('rough', [None, False])
def test_prediction_file_records_what_the_model_was_told(tmp_path, rough):
    """A drill-down prompt entry of the prediction file has ``rough: true``
    iff the model was told the prompt is rough (absent: told exact), beside
    the perturbation and the prompt it was given; a non-boolean ``rough``
    is refused with the prompt's id."""
    import json

    import torch
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    from mmaims.datasets import HierarchicalCocoDataset
    from mmaims.datasets.transforms import LoadDrillDownPrompts
    from mmaims.structures import load_predictions, samples_to_predictions
    ann_file = str(tmp_path / 'gt.json')
    with open(ann_file, 'w') as f:
        json.dump(_gt_dict(), f)
    info = HierarchicalCocoDataset(
        ann_file=ann_file, test_mode=True,
        check_image_files=False).get_data_info(1)
    files = {}
    for tag, transform in (('exact', LoadDrillDownPrompts()),
                           ('box',
                            LoadDrillDownPrompts(
                                perturbation='box', rough=rough))):
        sample = DetDataSample(
            metainfo=dict(
                img_id=info['img_id'],
                ori_shape=(H, W),
                drill_down_prompts=transform(
                    dict(info))['drill_down_prompts']))
        sample.pred_prompted_instances = InstanceData(
            masks=torch.zeros((0, H, W), dtype=torch.bool),
            scores=torch.zeros(0),
            prompt_index=torch.zeros(0, dtype=torch.long))
        files[tag] = samples_to_predictions([sample])
    exact, box = (files[tag]['prompts'][0] for tag in ('exact', 'box'))
    assert 'rough' not in exact and 'segmentation' not in exact
    assert box['perturbation'] == 'box' and 'segmentation' in box
    assert box.get('rough') is (True if rough is None else None)
    assert load_predictions(files['box'], _gt_dict())['prompts'][0].get(
        'rough') == box.get('rough')
    files['box']['prompts'][0]['rough'] = 'yes'
    with pytest.raises(ValueError, match='prompt id 1 .*rough must be true'):
        load_predictions(files['box'], _gt_dict())


def test_metric_with_rough_prompts_and_an_image_without_prompts(tmp_path):
    """Images without prompts do not make the perturbation tags differ."""
    import json

    from mmaims.datasets import HierarchicalCocoDataset
    from mmaims.datasets.transforms import LoadDrillDownPrompts
    from mmaims.evaluation import FederatedMetric
    ann_file = str(tmp_path / 'gt.json')
    with open(ann_file, 'w') as f:
        json.dump(_gt_dict(), f)
    dataset = HierarchicalCocoDataset(
        ann_file=ann_file, test_mode=True, check_image_files=False)
    metric = FederatedMetric(ann_file, drill_down=True)
    for index in range(len(dataset)):
        info = LoadDrillDownPrompts(perturbation='box')(
            dataset.get_data_info(index))
        metric.process({}, [
            dict(
                img_id=info['img_id'],
                ori_shape=(H, W),
                drill_down_prompts=info['drill_down_prompts'])
        ])
    metrics = metric.compute_metrics(metric.results)
    assert metrics['drill_box_part_prompts'] == 2
    assert metrics['drill_box_part_mAP'] == -1  # no drill-down output
