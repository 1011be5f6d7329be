# Copyright (c) mmaims contributors. All rights reserved.
"""Time the federated mask AP against faster-coco-eval and pycocotools.

    python tools/analysis_tools/benchmark_metric.py [--num-images 200]
        [--masks-per-level 50] [--size 256] [--seed 0]

Seeded synthetic GT and predictions (random polygons, some crowd GT, tied
scores, images annotated at random subsets of the levels) are evaluated per
level three times on the same subsets: by mmaims' AP path (what
FederatedMetric and the offline evaluator run), by faster-coco-eval's
``COCOeval_faster`` (the maintained C++ reimplementation, one thread) and by
pycocotools' ``COCOeval``, both with ``iouType='segm'`` and
``useCats = 0``. AP, AP50, AP75 and AR@100 must be equal (to 1e-9; the
script fails otherwise). The evaluation times (evaluate + accumulate +
summarize; loading, i.e. COCO index and ``loadRes`` vs. building the GT
index, is timed apart) and the ratio of mmaims to faster-coco-eval are
printed: mmaims keeps its own AP only while that ratio is <= 0.5. The full
:func:`evaluate_federated` (which adds the non-overlap AP, the recalls and
the association recalls) is timed too. Run it alone on the machine, with
``OMP_NUM_THREADS=1``. This is a benchmark, not a test.
"""
import argparse
import contextlib
import io
import time

import numpy as np
import pycocotools.mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from mmaims.evaluation.functional import (FederatedGroundTruth,
                                          accumulate_precision,
                                          average_mask_recall,
                                          evaluate_federated, evaluate_image,
                                          group_predictions,
                                          summarize_precision)
from mmaims.structures import LEVELS


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-images', type=int, default=200)
    parser.add_argument('--masks-per-level', type=int, default=50)
    parser.add_argument('--size', type=int, default=256, help='image side')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def _polygon(rng, cx, cy, radius, size):
    angles = np.sort(rng.uniform(0, 2 * np.pi, 8))
    radii = radius * rng.uniform(0.6, 1.0, 8)
    xs = np.clip(cx + radii * np.cos(angles), 0, size - 1)
    ys = np.clip(cy + radii * np.sin(angles), 0, size - 1)
    return np.stack([xs, ys], axis=1).reshape(-1).tolist()


def _rle(polygon, size):
    rle = mask_util.merge(mask_util.frPyObjects([polygon], size, size))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle


def generate(num_images, per_level, size, seed):
    """Seeded annotation dict (section 1) and prediction dict (section 2)."""
    rng = np.random.default_rng(seed)
    images, anns, masks, links = [], [], [], []
    ann_id = mask_id = 1
    for img_id in range(1, num_images + 1):
        levels = [lv for lv in LEVELS if rng.random() < 0.8] or ['entity']
        images.append(
            dict(
                id=img_id,
                width=size,
                height=size,
                levels=levels,
                source='synthetic'))
        for level in LEVELS:
            polygons = []
            for _ in range(per_level):
                cx, cy = rng.uniform(0, size, 2)
                radius = rng.uniform(size / 20, size / 5)
                poly = _polygon(rng, cx, cy, radius, size)
                rle = _rle(poly, size)
                anns.append(
                    dict(
                        id=ann_id,
                        image_id=img_id,
                        level=level,
                        category_id=1,
                        segmentation=rle,
                        area=int(mask_util.area(rle)),
                        bbox=[float(v) for v in mask_util.toBbox(rle)],
                        iscrowd=int(rng.random() < 0.05)))
                polygons.append((poly, radius))
                ann_id += 1
            for k in range(per_level):
                if rng.random() < 0.7:
                    # A GT polygon with noisy vertices: IoUs of ~0.5-0.95.
                    poly, radius = polygons[k]
                    noise = rng.normal(0, radius / 8, len(poly))
                    poly = np.clip(np.array(poly) + noise, 0,
                                   size - 1).tolist()
                else:
                    cx, cy = rng.uniform(0, size, 2)
                    radius = rng.uniform(size / 20, size / 5)
                    poly = _polygon(rng, cx, cy, radius, size)
                masks.append(
                    dict(
                        id=mask_id,
                        image_id=img_id,
                        level=level,
                        segmentation=_rle(poly, size),
                        # Two decimals: plenty of score ties to break.
                        score=float(np.round(rng.random(), 2))))
                mask_id += 1
    return dict(
        images=images,
        annotations=anns,
        categories=[dict(id=1, name='object')]), dict(
            masks=masks, links=links)


def coco_level_eval(gt_dict, pred_dict, level, faster=False):
    """COCOeval(useCats=0) of one level on the images listing it, by
    pycocotools or, with ``faster``, by faster-coco-eval."""
    if faster:
        from faster_coco_eval import COCO as coco_class
        from faster_coco_eval import COCOeval_faster

        def coco_eval_class(gt, dt, iou_type):
            # one thread, like the two others
            return COCOeval_faster(gt, dt, iou_type, rle_iou_max_workers=1)
    else:
        coco_class, coco_eval_class = COCO, COCOeval
    img_ids = [im['id'] for im in gt_dict['images'] if level in im['levels']]
    ids = set(img_ids)
    t0 = time.perf_counter()
    coco_gt = coco_class()
    coco_gt.dataset = dict(
        images=[im for im in gt_dict['images'] if im['id'] in ids],
        annotations=[
            a for a in gt_dict['annotations']
            if a['level'] == level and a['image_id'] in ids
        ],
        categories=gt_dict['categories'])
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt.createIndex()
        dets = [
            dict(
                image_id=m['image_id'],
                category_id=1,
                segmentation=m['segmentation'],
                score=m['score']) for m in pred_dict['masks']
            if m['level'] == level and m['image_id'] in ids
        ]
        coco_dt = coco_gt.loadRes(dets)
    t1 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        coco_eval = coco_eval_class(coco_gt, coco_dt, 'segm')
        coco_eval.params.useCats = 0
        coco_eval.params.imgIds = img_ids
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    t2 = time.perf_counter()
    stats = coco_eval.stats
    return dict(mAP=stats[0], mAP_50=stats[1], mAP_75=stats[2],
                AR=stats[8]), t1 - t0, t2 - t1


def mmaims_level_eval(gt, image_preds, level):
    """The AP path of FederatedMetric for one level."""
    per_image = []
    for img_id in gt.image_ids:
        image = gt.images[img_id]
        if level not in image.levels:
            continue
        preds = image_preds.get(img_id, {}).get('masks', {}).get(level)
        rles = preds['rles'] if preds else []
        scores = preds['scores'] if preds else []
        per_image.append(
            evaluate_image(rles, scores, image.masks[level]['rles'],
                           image.masks[level]['crowd']))
    out = summarize_precision(accumulate_precision(per_image))
    out['AR'] = average_mask_recall(per_image)
    return out


def main():
    args = parse_args()
    print(f'generating {args.num_images} images x {args.masks_per_level} '
          f'GT and predicted masks per level ({args.size}x{args.size}, '
          f'seed {args.seed})...')
    gt_dict, pred_dict = generate(args.num_images, args.masks_per_level,
                                  args.size, args.seed)

    t0 = time.perf_counter()
    gt = FederatedGroundTruth(gt_dict, 'benchmark')
    image_preds = group_predictions(pred_dict)
    ours_load = time.perf_counter() - t0

    names = ('faster-coco-eval', 'pycocotools')
    ours_eval = 0.
    load = dict.fromkeys(names, 0.)
    evaluation = dict.fromkeys(names, 0.)
    for level in LEVELS:
        t0 = time.perf_counter()
        ours = mmaims_level_eval(gt, image_preds, level)
        ours_eval += time.perf_counter() - t0
        for name in names:
            theirs, load_s, eval_s = coco_level_eval(
                gt_dict, pred_dict, level, faster=name == names[0])
            load[name] += load_s
            evaluation[name] += eval_s
            for key in ('mAP', 'mAP_50', 'mAP_75', 'AR'):
                diff = abs(ours[key] - theirs[key])
                print(f'  {level:8s} {key:7s} mmaims {ours[key]:.12f}  '
                      f'{name} {theirs[key]:.12f}  |diff| {diff:.1e}')
                if diff > 1e-9:
                    raise SystemExit(f'MISMATCH at {level} {key} ({name})')

    t0 = time.perf_counter()
    evaluate_federated(gt, image_preds)
    full = time.perf_counter() - t0

    print(f'loading      : mmaims {ours_load:.2f} s, ' + ', '.join(
        f'{name} (COCO index + loadRes) {load[name]:.2f} s'
        for name in names))
    print(f'mask AP path : mmaims {ours_eval:.2f} s, ' + ', '.join(
        f'{name} (evaluate + accumulate + summarize) {evaluation[name]:.2f} s'
        for name in names))
    ratio = ours_eval / evaluation[names[0]]
    print(f'ratio mmaims / faster-coco-eval: {ratio:.3f} (target <= 0.5) -> '
          f'{"OK" if ratio <= 0.5 else "TOO SLOW"}; mmaims / pycocotools: '
          f'{ours_eval / evaluation[names[1]]:.3f}')
    print(f'full evaluate_federated (AP + non-overlap AP + recalls + '
          f'association recalls, all levels): {full:.2f} s')


if __name__ == '__main__':
    main()
