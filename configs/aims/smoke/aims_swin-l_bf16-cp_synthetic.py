# GPU smoke test of configs/aims/aims_swin-l_bf16-cp.py: the same Swin-L
# AIMS with bf16 AMP and backbone activation checkpointing, from random
# weights (no download), 20 iterations of batch 4 on the synthetic data.
# It shows that the switches train on your GPU set-up before a real run;
# its metrics mean nothing. Generate the data first (README "Main job"):
#   python tools/misc/make_synthetic_dataset.py data/aims_synthetic \
#       --num-images 1000 --seed 0
#   python tools/train.py configs/aims/smoke/aims_swin-l_bf16-cp_synthetic.py
# tests/test_engine/test_scale_out.py pins the switches and the Swin-L
# backbone to those of the paper configs.
_base_ = [
    '../../_base_/models/aims_swin-t.py',
    '../../_base_/datasets/aims_synthetic.py',
    '../../_base_/schedules/schedule_synthetic_2k.py',
    '../../_base_/default_runtime.py'
]

model = dict(
    from_scratch=True,
    backbone=dict(
        pretrain_img_size=384,
        embed_dims=192,
        depths=[2, 2, 18, 2],
        num_heads=[6, 12, 24, 48],
        window_size=12,
        with_cp=True,
        init_cfg=None),
    pixel_decoder=dict(in_channels=[192, 384, 768, 1536]))
optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16')
train_cfg = dict(max_iters=20, val_interval=20)
train_dataloader = dict(batch_size=4, sampler=dict(batch_size=4))
default_hooks = dict(
    logger=dict(type='AIMSLoggerHook', interval=5),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=20))
