# Copyright (c) mmaims contributors. All rights reserved.
"""CropFormer wired end to end: configs/cropformer/cropformer_r18_synthetic.py
trains 2 iterations on a tiny generated synthetic set (CropFormerViews ->
PackCropFormerInputs -> CropFormerDataPreprocessor -> CropFormer) and
predicts with the crop ensemble."""
import copy
import os.path as osp

import numpy as np
import torch
from mmengine.dataset import pseudo_collate

from mmaims.registry import METRICS
from mmaims.utils import register_all_modules

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CONFIG = osp.join(REPO, 'configs', 'cropformer', 'cropformer_r18_synthetic.py')

register_all_modules()


def test_cropformer_trains_and_predicts(tiny_synthetic_cfg):
    from mmengine.runner import Runner
    cfg = tiny_synthetic_cfg(CONFIG)
    runner = Runner.from_cfg(cfg)

    runner.train()
    assert osp.isfile(osp.join(cfg.work_dir, 'iter_2.pth'))
    logged = set(runner.message_hub.log_scalars)
    assert {
        'train/entity.loss_cls', 'train/entity.loss_mask',
        'train/entity.loss_dice', 'train/batch.loss_cls',
        'train/batch.loss_mask', 'train/batch.loss_dice',
        'train/batch.d0.loss_cls'
    } <= logged
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert loss > 0 and np.isfinite(loss)
    model = runner.model
    # the packed and preprocessed batch: full view + 1 crop per sample
    dataset = runner.train_dataloader.dataset
    batch = pseudo_collate([dataset[0], dataset[1]])
    data = runner.model.data_preprocessor(batch, training=True)
    assert data['inputs'].shape[0] == 4
    for sample in data['data_samples']:
        assert len(sample.crop_samples) == 1
        crop = sample.crop_samples[0]
        index = np.asarray(crop.metainfo['gt_crop_index'])
        assert len(index) == len(sample.gt_instances)
        assert crop.batch_input_shape == sample.batch_input_shape
        # a crop row is the same annotation as its full-view row
        for full_row, crop_row in enumerate(index):
            if crop_row >= 0:
                assert crop.gt_instances.ann_ids[crop_row] == \
                    sample.gt_instances.ann_ids[full_row]

    # the batch level's loss region of each view is the image level's:
    # the view's valid region minus its crowd regions
    masks, present, regions = model._batch_targets(data['data_samples'],
                                                   torch.device('cpu'))
    for sample, region in zip(data['data_samples'], regions):
        views = (sample, *sample.crop_samples)
        assert region.shape == (len(views), *sample.batch_input_shape)
        for view, view_region in zip(views, region):
            expected = view.valid_region.data[0].bool()
            if 'ignored_instances' in view and len(view.ignored_instances):
                expected &= ~view.ignored_instances.masks.to_tensor(
                    torch.bool, 'cpu').any(0)
            assert torch.equal(view_region, expected)

    # every parameter of the model, the batch level included, gets a
    # gradient from the two-level loss (no unused branch)
    model.zero_grad()
    losses = model(**data, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    unused = [
        name for name, p in model.named_parameters()
        if p.requires_grad and p.grad is None
    ]
    assert unused == []

    model.eval()
    batch = next(iter(runner.test_dataloader))
    with torch.no_grad():
        samples = model.test_step(batch)
    assert len(samples) == 2
    for sample in samples:
        assert len(sample.crop_samples) == 4
        entities = sample.pred_instances
        assert len(entities) <= 20
        assert tuple(entities.masks.shape[1:]) == \
            tuple(sample.metainfo['ori_shape'][:2])
        assert (entities.scores[:-1] >= entities.scores[1:]).all()
        # non-overlapping masks
        assert entities.masks.sum(0).max() <= 1

    # the config's evaluator on these predictions: entity AP and AP^e
    metric = METRICS.build(cfg.test_evaluator)
    metric.process(batch, samples)
    metrics = metric.evaluate(len(samples))
    for key in ('aims/entity_mAP', 'aims/entity_mAP_nonoverlap'):
        assert 0.0 <= metrics[key] <= 1.0, (key, metrics[key])


def test_table7_variants_choose_decoder_and_views(tiny_synthetic_cfg,
                                                  monkeypatch):
    """test_cfg decoder / views: what each variant encodes and fuses."""
    import pytest
    from mmaims.models.detectors import crop_former
    from mmaims.registry import DATASETS, MODELS
    cfg = tiny_synthetic_cfg(CONFIG)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    batch = pseudo_collate([dataset[0], dataset[1]])
    model = MODELS.build(cfg.model).eval()
    data = model.data_preprocessor(batch, training=False)
    num_views = data['inputs'].shape[0] // 2
    assert num_views == 5  # full image + 4 corner crops

    merged, encoded = [], []

    def spy_merge(full, crops, boxes, scores, **kwargs):
        merged.append((full, list(crops), boxes, kwargs['use_full']))
        return merge(full, crops, boxes, scores, **kwargs)

    merge = crop_former.merge_crop_predictions
    monkeypatch.setattr(crop_former, 'merge_crop_predictions', spy_merge)
    extract = model.extract_feat
    monkeypatch.setattr(
        model, 'extract_feat',
        lambda inputs: encoded.append(inputs.shape[0]) or extract(inputs))

    results = {}
    for (decoder, views), name in crop_former.ENSEMBLE_VARIANTS.items():
        merged.clear(), encoded.clear()
        model.test_cfg.update(decoder=decoder, views=views)
        model.ensemble_variant = (decoder, views)
        with torch.no_grad():
            samples = model.predict(data['inputs'],
                                    copy.deepcopy(data['data_samples']))
        results[name] = [s.pred_instances for s in samples]
        # Image-O encodes the two full views only; the batch variants all
        # five views of both images
        assert encoded == [2 if decoder == 'image' else 2 * num_views], name
        assert len(merged) == 2
        for sample, (full, crops, boxes, use_full) in zip(samples, merged):
            assert tuple(full.shape[1:]) == tuple(sample.ori_shape[:2])
            assert len(crops) == (0 if views == 'full' else 4), name
            assert use_full == (views != 'crops'), name
            for crop, box in zip(crops, boxes):
                x0, y0, x1, y1 = (int(v) for v in box)
                assert tuple(crop.shape[1:]) == (y1 - y0, x1 - x0)
        for inst in results[name]:
            assert inst.masks.sum(0).max() <= 1
    # the batch decoder's full-view masks (Batch-O) are not the image
    # decoder's (Image-O): different queries and heads
    assert not all(
        torch.equal(a.masks, b.masks) and torch.equal(a.scores, b.scores)
        for a, b in zip(results['Image-O'], results['Batch-O']))

    bad = copy.deepcopy(cfg.model)
    bad.test_cfg.update(decoder='image', views='full+crops')
    with pytest.raises(ValueError, match="Table 7's variants"):
        MODELS.build(bad)
