# The entity segmentation framework of open-world entity segmentation
# (paper 002, Qi et al., Sec. 5; docs/entity_segmentation.md): mmdet's
# CondInst, class agnostic (one entityness score), entities represented by
# the centre of mass of their masks, with the global kernel bank (seven
# mask-head paths, Sec. 5.2) and overlap suppression (Sec. 5.3). The
# baseline of the paper's Table 2a (plain class-agnostic CondInst) is this
# model with mask_head.kernel_bank=False and mask_head.loss_overlap=None
# (configs/entity/condinst_*). ImageNet ResNet-50 as in Sec. 6.2.
model = dict(
    type='EntityCondInst',
    data_preprocessor=dict(
        type='AIMSDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,
        pad_mask=True,
        mask_pad_value=0),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://resnet50')),
    neck=dict(
        type='FPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        start_level=1,
        add_extra_convs='on_output',
        num_outs=5,
        relu_before_extra_convs=True),
    bbox_head=dict(
        type='EntityBboxHead',
        num_params=169,
        in_channels=256,
        stacked_convs=4,
        feat_channels=256,
        strides=[8, 16, 32, 64, 128],
        norm_on_bbox=True,
        centerness_on_reg=True,
        dcn_on_last_conv=False,
        # positives around each entity's centre of mass (from its mask)
        center_sampling=True,
        conv_bias=True,
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
        loss_centerness=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    mask_head=dict(
        type='EntityMaskHead',
        num_layers=3,
        feat_channels=8,
        size_of_interest=8,
        mask_out_stride=4,
        max_masks_to_train=300,
        mask_feature_head=dict(
            in_channels=256,
            feat_channels=128,
            start_level=0,
            end_level=2,
            out_channels=8,
            mask_stride=8,
            num_stacked_convs=4,
            norm_cfg=dict(type='BN', requires_grad=True)),
        loss_mask=dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            eps=5e-6,
            loss_weight=1.0),
        # Sec. 5.2: seven paths, Dice weights (0.25,) * 3 + (1,) * 4
        kernel_bank=True,
        # Sec. 5.3, eq. 4 (weight 1 in eq. 5)
        loss_overlap=dict(type='OverlapSuppressionLoss', loss_weight=1.0)),
    test_cfg=dict(
        nms_pre=1000,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.6),
        max_per_img=100,
        mask_thr=0.5,
        # Sec. 5.4: each pixel to its highest-scoring entity
        nonoverlap=True))
