# AIMS with a Swin-T backbone (the paper's ablation backbone), initialised
# from the ImageNet-1k Swin-T of mmdet's Mask2Former Swin-T config;
# override with model.backbone.init_cfg.checkpoint=/local/swin_tiny.pth.
# Leaf configs add Mask2Former's Swin optimizer settings with
#   optim_wrapper = dict(
#       paramwise_cfg=dict(custom_keys=_base_.swin_custom_keys))
_base_ = ['./aims_r50.py']
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
        drop_path_rate=0.3,
        patch_norm=True,
        out_indices=(0, 1, 2, 3),
        with_cp=False,
        convert_weights=True,
        frozen_stages=-1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    pixel_decoder=dict(in_channels=[96, 192, 384, 768]))

# Mask2Former's Swin settings: backbone lr x0.1, no weight decay on the
# backbone norms, position tables and query / level embeddings. Keys for
# blocks a smaller Swin does not have match nothing and are harmless; they
# cover Swin-T/S/B/L (up to 18 blocks per stage).
swin_custom_keys = {
    'backbone': dict(lr_mult=0.1, decay_mult=1.0),
    'backbone.patch_embed.norm': dict(lr_mult=0.1, decay_mult=0.0),
    'backbone.norm': dict(lr_mult=0.1, decay_mult=0.0),
    'absolute_pos_embed': dict(lr_mult=0.1, decay_mult=0.0),
    'relative_position_bias_table': dict(lr_mult=0.1, decay_mult=0.0),
    'query_embed': dict(lr_mult=1.0, decay_mult=0.0),
    'query_feat': dict(lr_mult=1.0, decay_mult=0.0),
    'level_embed': dict(lr_mult=1.0, decay_mult=0.0),
}
swin_custom_keys.update({
    f'backbone.stages.{stage_id}.blocks.{block_id}.norm':
    dict(lr_mult=0.1, decay_mult=0.0)
    for stage_id in range(4)
    for block_id in range(18)
})
swin_custom_keys.update({
    f'backbone.stages.{stage_id}.downsample.norm':
    dict(lr_mult=0.1, decay_mult=0.0)
    for stage_id in range(3)
})
