# AIMS paper, Sec. 4 "Training settings": 36k iterations, AdamW with base
# learning rate 1e-4, decayed x0.1 after 28k and 33k iterations, batch 64
# (8 GPUs x 8 images). The optimizer settings not given in the paper
# (weight decay, gradient clipping, lr multipliers) are Mask2Former's.
# (no helper variables here: every top-level name of a base is a config key
# and the same key in two bases of a leaf is an error)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=36000, val_interval=4000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW',
        lr=0.0001,
        weight_decay=0.05,
        eps=1e-8,
        betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.1, decay_mult=1.0),
            'query_embed': dict(lr_mult=1.0, decay_mult=0.0),
            'query_feat': dict(lr_mult=1.0, decay_mult=0.0),
            'level_embed': dict(lr_mult=1.0, decay_mult=0.0),
        },
        norm_decay_mult=0.0),
    clip_grad=dict(max_norm=0.01, norm_type=2))

param_scheduler = dict(
    type='MultiStepLR',
    begin=0,
    end=36000,
    by_epoch=False,
    milestones=[28000, 33000],
    gamma=0.1)

# the paper's batch: 8 GPUs x 8 images; with `--auto-scale-lr` the learning
# rate is scaled linearly to the actual total batch
auto_scale_lr = dict(enable=False, base_batch_size=64)
