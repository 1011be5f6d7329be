# A tiny, randomly initialised AIMS for CPU tests of the inference API, the
# demo and the visualizer: the real R-50 model config shrunk to a ResNet-18
# with 8 base channels, 32 feature channels, 6 queries per decoder, and
# 64 x 64 test inputs. Not meant to be trained.
_base_ = [
    '../../../configs/_base_/models/aims_r50.py',
    '../../../configs/_base_/datasets/aims_synthetic.py',
    '../../../configs/_base_/schedules/schedule_36k.py',
    '../../../configs/_base_/default_runtime.py'
]

model = dict(
    from_scratch=True,
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=18,
        base_channels=8,
        stem_channels=8,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        init_cfg=None),
    pixel_decoder=dict(
        in_channels=[8, 16, 32, 64],
        feat_channels=32,
        out_channels=32,
        norm_cfg=dict(type='GN', num_groups=8),
        encoder=dict(
            num_layers=1,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=32, num_heads=4),
                ffn_cfg=dict(embed_dims=32, feedforward_channels=64))),
        positional_encoding=dict(num_feats=16)),
    prompt_encoder=dict(out_channels=32),
    decode_head=dict(
        feat_channels=32,
        out_channels=32,
        num_queries=6,
        positional_encoding=dict(num_feats=16),
        transformer_decoder=dict(
            num_layers=3,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=32, num_heads=4),
                cross_attn_cfg=dict(embed_dims=32, num_heads=4),
                ffn_cfg=dict(embed_dims=32, feedforward_channels=64))),
        tcm=dict(
            self_attn_cfg=dict(num_heads=4),
            ffn_cfg=dict(feedforward_channels=64))),
    association_head=dict(in_channels=32, feat_channels=16),
    train_cfg=dict(num_points=64))

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadHierarchicalAnnotations'),
    dict(type='HierarchicalResize', scale=(64, 64), keep_ratio=True),
    dict(type='SampleTaskPrompt', default_sample_type=0),
    dict(type='PackAIMSInputs'),
]
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
