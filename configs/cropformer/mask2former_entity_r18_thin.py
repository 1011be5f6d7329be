# CropFormer's CPU evidence (docs/cropformer.md, "Evidence on CPU"): the
# Mask2Former entity baseline on the thin-structure set (256 px scenes with
# railings, lattices and wires; mmaims/datasets/synthetic_thin.py), trained
# at 128 px. Its views of an image are those of CropFormer's full view
# (resized to the training size, flips; no random scale or crop), and its
# budget is cropformer_r18_thin.py's: 1,000 iterations of batch 8. The
# masks are scored at the original 256 px. Generate the data first:
#   python tools/misc/make_synthetic_dataset.py data/aims_thin \
#       --profile thin --num-images 600 --size 256 --seed 0
_base_ = './mask2former_entity_r18_synthetic.py'

thin_root = 'data/aims_thin/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadHierarchicalAnnotations', levels=('entity', )),
    dict(type='HierarchicalRandomFlip', prob=0.5),
    dict(type='FilterHierarchicalAnnotations', min_gt_mask_area=4),
    dict(type='HierarchicalResize', scale=_base_.image_size, keep_ratio=True),
    dict(type='SampleTaskPrompt', supervise_all_levels=False),
    dict(type='PackAIMSInputs'),
]
train_dataloader = dict(
    dataset=dict(
        datasets=[
            dict(_base_.train_dataloader.dataset.datasets[0],
                 data_root=thin_root)
        ],
        pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=thin_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=thin_root + 'annotations/val.json')
test_evaluator = val_evaluator
# 1,000 iterations: the main job's schedule at half length (x0.1 at 85 %)
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
