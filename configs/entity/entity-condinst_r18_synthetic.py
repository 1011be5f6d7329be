# CPU counterpart of the entity framework (paper 002, Sec. 5) on the
# synthetic data of the main job (README "Main job"): class-agnostic
# CondInst with the global kernel bank and overlap suppression on a
# half-width ResNet-18 trained from scratch, full images only (the entity
# annotations of toy_ppp, toy_psg and toy_entityseg), with the main job's
# schedule (2,000 iterations of batch 8 on 128 x 128 images, AdamW 3e-4).
# The val split is the main job's, so aims/entity_mAP_nonoverlap (AP^e)
# compares with the AIMS and Mask2Former synthetic models. Its baseline
# (Table 2a row 1) is condinst_r18_synthetic.py. Generate the data first:
#   python tools/misc/make_synthetic_dataset.py data/aims_synthetic \
#       --num-images 1000 --seed 0
_base_ = [
    '../_base_/models/entity-condinst_r50_fpn.py',
    '../_base_/datasets/aims_synthetic.py',
    '../_base_/schedules/schedule_synthetic_2k.py',
    '../_base_/default_runtime.py'
]

model = dict(
    # from scratch, as the main job: trainable BatchNorm, no ImageNet
    backbone=dict(
        depth=18,
        base_channels=32,
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64),
    bbox_head=dict(in_channels=64, stacked_convs=2, feat_channels=64),
    mask_head=dict(
        max_masks_to_train=64,
        mask_feature_head=dict(
            in_channels=64,
            feat_channels=32,
            num_stacked_convs=2,
            norm_cfg=dict(type='GN', num_groups=8))),
    test_cfg=dict(max_per_img=20))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadHierarchicalAnnotations', levels=('entity', )),
    dict(type='HierarchicalRandomFlip', prob=0.5),
    dict(
        type='RandomResize',
        scale=_base_.image_size,
        ratio_range=(0.8, 1.25),
        resize_type='HierarchicalResize',
        keep_ratio=True),
    dict(
        type='HierarchicalRandomCrop',
        crop_size=_base_.image_size,
        crop_type='absolute',
        allow_negative_crop=False),
    dict(type='FilterHierarchicalAnnotations', min_gt_mask_area=4),
    dict(type='SampleTaskPrompt', supervise_all_levels=False),
    dict(type='PackAIMSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadHierarchicalAnnotations', levels=('entity', )),
    dict(type='HierarchicalResize', scale=_base_.image_size, keep_ratio=True),
    dict(type='SampleTaskPrompt', default_sample_type=0),
    dict(type='PackAIMSInputs'),
]
train_dataloader = dict(
    dataset=dict(sample_types=(1, ), pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(drill_down=False)
test_evaluator = val_evaluator

default_hooks = dict(
    logger=dict(type='AIMSLoggerHook', interval=20),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=250,
        max_keep_ckpts=2,
        save_last=True))
randomness = dict(seed=0)
