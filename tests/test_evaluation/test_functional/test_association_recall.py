# Copyright (c) mmaims contributors. All rights reserved.
import numpy as np
import pytest

from mmaims.evaluation.functional import (FederatedGroundTruth,
                                          evaluate_federated,
                                          group_predictions)
from mmaims.structures import encode_mask

THRESHOLDS = [0.5 + 0.05 * i for i in range(10)]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def brute_force_ar(gt: dict,
                   preds: dict,
                   parent: str,
                   child: str,
                   link_type: str,
                   k: int = 100) -> float:
    """AR@K straight from docs/formats.md section 3, with dense masks."""
    decoded = {}

    def dense(segm):
        import pycocotools.mask as mask_util
        key = id(segm)
        if key not in decoded:
            rle = dict(size=segm['size'], counts=segm['counts'].encode())
            decoded[key] = mask_util.decode(rle).astype(bool)
        return decoded[key]

    anns = {a['id']: a for a in gt['annotations']}
    pred_masks = {m['id']: m for m in preds['masks']}
    hits, total = np.zeros(len(THRESHOLDS)), 0
    for image in gt['images']:
        if parent not in image['levels'] or child not in image['levels']:
            continue
        pairs = set()
        for a in gt['annotations']:
            if a['image_id'] != image['id']:
                continue
            if link_type == 'entity-part' and a['level'] == 'part' and \
                    a.get('entity_id') is not None:
                pairs.add((a['entity_id'], a['id']))
            if link_type == 'relation-entity' and a['level'] == 'relation' \
                    and a.get('entity_ids') is not None:
                for e in a['entity_ids']:
                    pairs.add((a['id'], e))
        pairs = [(p, c) for p, c in pairs
                 if not anns[p]['iscrowd'] and not anns[c]['iscrowd']]
        total += len(pairs)
        links = [
            x for x in preds['links']
            if x['image_id'] == image['id'] and x['type'] == link_type
        ]
        # Stable: equal scores keep file order.
        links = sorted(links, key=lambda x: -x['score'])[:k]
        for ti, t in enumerate(THRESHOLDS):
            for p, c in pairs:
                for x in links:
                    if _iou(
                            dense(pred_masks[x['parent_id']]['segmentation']),
                            dense(anns[p]['segmentation'])) >= t and _iou(
                                dense(
                                    pred_masks[x['child_id']]['segmentation']),
                                dense(anns[c]['segmentation'])) >= t:
                        hits[ti] += 1
                        break
    return -1.0 if total == 0 else float(np.mean(hits / total))


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_ar_equals_brute_force(seed, make_dataset):
    gt_dict, preds = make_dataset(
        seed,
        num_images=10,
        size=(6, 7),
        levels_prob=0.8,
        many_preds_image=False)
    metrics = evaluate_federated(
        FederatedGroundTruth(gt_dict), group_predictions(preds))
    nonzero = 0
    for link_type, parent, child in (('entity-part', 'entity', 'part'),
                                     ('relation-entity', 'relation',
                                      'entity')):
        ref = brute_force_ar(gt_dict, preds, parent, child, link_type)
        key = f'{link_type.replace("-", "_")}_AR@100'
        assert metrics[key] == pytest.approx(ref, abs=1e-12)
        nonzero += ref > 0
    assert nonzero >= 1


def test_ar_keeps_only_top_100_links():
    """One GT pair; the only link that recalls it has the lowest score of
    120, so AR@100 is 0; raising its score makes AR 1."""
    h = w = 8
    ent = np.zeros((h, w), bool)
    ent[:4] = True
    part = np.zeros((h, w), bool)
    part[:2, :2] = True
    gt_dict = dict(
        images=[dict(id=1, height=h, width=w, levels=['entity', 'part'])],
        annotations=[
            dict(
                id=1,
                image_id=1,
                level='entity',
                segmentation=encode_mask(ent),
                iscrowd=0),
            dict(
                id=2,
                image_id=1,
                level='part',
                segmentation=encode_mask(part),
                iscrowd=0,
                entity_id=1),
        ])
    masks = [
        dict(
            id=1,
            image_id=1,
            level='entity',
            score=.9,
            segmentation=encode_mask(ent)),
        dict(
            id=2,
            image_id=1,
            level='part',
            score=.9,
            segmentation=encode_mask(part)),
        dict(
            id=3,
            image_id=1,
            level='part',
            score=.9,
            segmentation=encode_mask(~part)),
    ]
    links = [
        dict(
            image_id=1, type='entity-part', parent_id=1, child_id=3, score=0.5)
        for _ in range(119)
    ]
    links.append(
        dict(
            image_id=1, type='entity-part', parent_id=1, child_id=2,
            score=0.1))
    gt = FederatedGroundTruth(gt_dict)
    preds = dict(masks=masks, links=links)
    metrics = evaluate_federated(gt, group_predictions(preds))
    assert metrics['entity_part_AR@100'] == 0.0
    assert brute_force_ar(gt_dict, preds, 'entity', 'part',
                          'entity-part') == 0.0
    links[-1]['score'] = 0.6
    metrics = evaluate_federated(gt, group_predictions(preds))
    assert metrics['entity_part_AR@100'] == 1.0
    # No image lists relation: -1.
    assert metrics['relation_entity_AR@100'] == -1
