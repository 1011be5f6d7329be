# CropFormer's CPU evidence (docs/cropformer.md, "Evidence on CPU"):
# cropformer_r18_synthetic.py on the thin-structure set, with the budget
# and data of its baseline mask2former_entity_r18_thin.py (1,000
# iterations of batch 8, 256 px images trained at 128 px; the full view
# as the baseline's, plus one corner crop of ratio 0.7 resized to 128 px).
_base_ = './cropformer_r18_synthetic.py'

thin_root = 'data/aims_thin/'
train_dataloader = dict(
    dataset=dict(datasets=[
        dict(_base_.train_dataloader.dataset.datasets[0], data_root=thin_root)
    ]))
val_dataloader = dict(dataset=dict(data_root=thin_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=thin_root + 'annotations/val.json')
test_evaluator = val_evaluator
train_cfg = dict(max_iters=1000, val_interval=1000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(
        type='MultiStepLR',
        by_epoch=False,
        begin=0,
        end=1000,
        milestones=[850],
        gamma=0.1)
]
