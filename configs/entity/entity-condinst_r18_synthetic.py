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
    '../_base_/datasets/aims_synthetic_entity.py',
    '../_base_/schedules/schedule_synthetic_2k.py',
    '../_base_/default_runtime.py'
]

model = dict(
    # from scratch, as the main job: no ImageNet weights, trainable
    # BatchNorm, no zero-initialised residual block
    from_scratch=True,
    backbone=dict(depth=18, base_channels=32, frozen_stages=-1),
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

default_hooks = dict(
    logger=dict(type='AIMSLoggerHook', interval=20),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=250,
        max_keep_ckpts=2,
        save_last=True))
randomness = dict(seed=0)
