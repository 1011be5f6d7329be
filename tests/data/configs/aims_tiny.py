# A tiny, randomly initialised AIMS for CPU tests of the inference API, the
# demo, the visualizer and the training tools: the small recipe of the main
# job (configs/_base_/models/aims_r18-c64.py) shrunk to a ResNet-18 with 8
# base channels, width 32, 6 queries per decoder, and 64 x 64 test inputs.
_base_ = [
    '../../../configs/_base_/models/aims_r18-c64.py',
    '../../../configs/_base_/datasets/aims_synthetic.py',
    '../../../configs/_base_/schedules/schedule_36k.py',
    '../../../configs/_base_/default_runtime.py'
]

model = dict(
    backbone=dict(base_channels=8, stem_channels=8),
    pixel_decoder=dict(
        in_channels=[8, 16, 32, 64],
        feat_channels=32,
        out_channels=32,
        encoder=dict(
            num_layers=1,
            layer_cfg=dict(ffn_cfg=dict(feedforward_channels=64)))),
    decode_head=dict(
        num_queries=6,
        transformer_decoder=dict(
            layer_cfg=dict(ffn_cfg=dict(feedforward_channels=64))),
        tcm=dict(ffn_cfg=dict(feedforward_channels=64))),
    association_head=dict(feat_channels=16),
    train_cfg=dict(num_points=64))

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadHierarchicalAnnotations'),
    dict(type='LoadDrillDownPrompts'),
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
