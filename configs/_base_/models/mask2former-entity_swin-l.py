# The class-agnostic Mask2Former entity model of
# mask2former-entity_swin-t.py with the Swin-L backbone of
# configs/aims/aims_swin-l.py (ImageNet-22k weights, window 12), paper 003
# Table 3 last row.
_base_ = ['./aims_swin-t.py']
pretrained = 'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_large_patch4_window12_384_22k.pth'  # noqa

model = dict(
    backbone=dict(
        pretrain_img_size=384,
        embed_dims=192,
        depths=[2, 2, 18, 2],
        num_heads=[6, 12, 24, 48],
        window_size=12,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    pixel_decoder=dict(in_channels=[192, 384, 768, 1536]),
    prompt_encoder=None,
    association_head=None,
    decode_head=dict(decoders=('entity', ), num_queries=100, tcm=None),
    train_cfg=dict(unannotated='background'))
