# AIMS with Swin-L, the paper's main model (Table 2 last row): MPE + TCM +
# AM, five datasets, 36k iterations, batch 64 (8 GPUs x 8), lr 1e-4 x0.1 at
# 28k and 33k, short side 640-800 step 32, long side 1333.
#
# Paper semantics: pixels outside an image's valid_region are background on
# full-image samples (train_cfg.unannotated='background').
# Initial weights: the ImageNet-22k Swin-L of mmdet's Mask2Former Swin-L
# config (override with model.backbone.init_cfg.checkpoint=LOCAL_FILE). The
# paper starts the whole model from COCO-Entity weights: convert a mmdet
# Mask2Former Swin-L checkpoint with
#   python tools/model_converters/mask2former_to_aims.py M2F.pth \
#       checkpoints/aims_swin-l_coco-entity_init.pth \
#       --config configs/aims/aims_swin-l.py
# (all three decoders by default) and train with
#   --cfg-options load_from=checkpoints/aims_swin-l_coco-entity_init.pth
_base_ = './aims_swin-t.py'
pretrained = 'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_large_patch4_window12_384_22k.pth'  # noqa

model = dict(
    backbone=dict(
        pretrain_img_size=384,
        embed_dims=192,
        depths=[2, 2, 18, 2],
        num_heads=[6, 12, 24, 48],
        window_size=12,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    pixel_decoder=dict(in_channels=[192, 384, 768, 1536]))
