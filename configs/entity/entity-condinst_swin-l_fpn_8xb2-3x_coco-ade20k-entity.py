# entity-condinst_swin-t_fpn_8xb2-3x_coco-ade20k-entity.py with Swin-L
# (ImageNet-22k, window 12), paper 002 Sec. 6.2-6.3 (the Swin-L row of
# Table 2a: +1.4 AP^e from the two modules). Not reproduced.
_base_ = './entity-condinst_swin-t_fpn_8xb2-3x_coco-ade20k-entity.py'
pretrained = 'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_large_patch4_window12_384_22k.pth'  # noqa

model = dict(
    backbone=dict(
        pretrain_img_size=384,
        embed_dims=192,
        depths=[2, 2, 18, 2],
        num_heads=[6, 12, 24, 48],
        window_size=12,
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[192, 384, 768, 1536]))
