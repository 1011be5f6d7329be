# EntitySeg "1x" schedule (paper 003, Sec. 5): 34,375 iterations, learning
# rate x0.1 after 30,525 and 33,138 iterations; "Nx" multiplies the three
# numbers by N (schedule_entityseg_3x.py). The other settings are
# Mask2Former's COCO ones, which the paper keeps ("the same
# hyper-parameters of the COCO training"): batch 16 (8 GPUs x 2), AdamW
# with learning rate 1e-4 and weight decay 0.05, backbone learning rate
# x0.1, no weight decay on norms and query / level embeddings, gradient
# clipping at 0.01. The authors' released config names a poly scheduler
# next to these steps; this follows the paper's text (step decay).
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=34375, val_interval=34375)
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
    end=34375,
    by_epoch=False,
    milestones=[30525, 33138],
    gamma=0.1)

# with `--auto-scale-lr` the learning rate is scaled linearly to the
# actual total batch
auto_scale_lr = dict(enable=False, base_batch_size=16)
