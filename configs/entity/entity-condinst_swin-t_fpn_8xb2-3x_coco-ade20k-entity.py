# The entity framework with a Swin-T backbone (ImageNet-1k), trained 3x
# (36 epochs, paper 002 Sec. 6.3) on COCO + ADE20K as entities, evaluated
# on COCO val (and on ADE20K val, see the dataset base). Not reproduced.
_base_ = [
    '../_base_/models/entity-condinst_r50_fpn.py',
    '../_base_/datasets/coco-ade20k_entity.py',
    '../_base_/schedules/schedule_entity_3x.py',
    '../_base_/default_runtime.py'
]
pretrained = 'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_tiny_patch4_window7_224.pth'  # noqa

model = dict(
    backbone=dict(
        _delete_=True,
        type='SwinTransformer',
        embed_dims=96,
        depths=[2, 2, 6, 2],
        num_heads=[3, 6, 12, 24],
        window_size=7,
        mlp_ratio=4,
        qkv_bias=True,
        qk_scale=None,
        drop_rate=0.,
        attn_drop_rate=0.,
        drop_path_rate=0.2,
        patch_norm=True,
        out_indices=(0, 1, 2, 3),
        with_cp=False,
        convert_weights=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[96, 192, 384, 768]))
# Swin trains with AdamW (as mmdet's Swin detectors); the paper does not
# give the optimizer of its Swin models
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=0.0001, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys=dict(
            absolute_pos_embed=dict(decay_mult=0.),
            relative_position_bias_table=dict(decay_mult=0.),
            norm=dict(decay_mult=0.))))
