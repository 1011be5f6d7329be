# A small AIMS for CPU training from scratch (the synthetic main job): the
# full model of aims_r50.py (MPE + TCM + AM) with a ResNet-18 of half width,
# width 64 (pixel decoder, decoders, prompt encoder, association module:
# all derived from the pixel decoder's width), 3 decoder blocks and fewer
# queries. Switch modules off in a leaf config like aims_r50.py says.
# Trained from random weights on purpose (from_scratch: no ImageNet
# weights, trainable BatchNorm, no zero-initialised residual blocks).
_base_ = './aims_r50.py'

model = dict(
    from_scratch=True,
    backbone=dict(depth=18, base_channels=32),
    pixel_decoder=dict(
        in_channels=[32, 64, 128, 256],
        feat_channels=64,
        out_channels=64,
        norm_cfg=dict(type='GN', num_groups=8),
        encoder=dict(
            num_layers=2,
            layer_cfg=dict(
                self_attn_cfg=dict(num_heads=4),
                ffn_cfg=dict(feedforward_channels=256)))),
    decode_head=dict(
        num_queries=dict(_delete_=True, part=30, entity=20, relation=10),
        transformer_decoder=dict(
            num_layers=3,
            layer_cfg=dict(
                self_attn_cfg=dict(num_heads=4),
                cross_attn_cfg=dict(num_heads=4),
                ffn_cfg=dict(feedforward_channels=256))),
        tcm=dict(
            self_attn_cfg=dict(num_heads=4),
            ffn_cfg=dict(feedforward_channels=256))),
    # the mask features of a 128 x 128 input have 32 x 32 = 1024 pixels
    train_cfg=dict(num_points=1024))
