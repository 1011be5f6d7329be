# The entity framework's schedule (paper 002, Sec. 6.2): batch 16, 12
# epochs of COCO, learning rate x0.1 after epochs 8 and 11. As AdelaiDet's
# CondInst (which the framework is built on) and mmdet's CondInst config,
# "1x" is 90,000 iterations of 16 images (12.2 COCO epochs) with the steps
# at 60,000 and 80,000 (epochs 8.1 and 10.8); SGD with learning rate 0.01,
# momentum 0.9, weight decay 1e-4, a 1,000-iteration linear warm-up.
# schedule_entity_3x.py triples it (36 epochs, Sec. 6.3).
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=90000, val_interval=10000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        by_epoch=False,
        begin=0,
        end=90000,
        milestones=[60000, 80000],
        gamma=0.1)
]
# with `--auto-scale-lr` the learning rate is scaled linearly to the
# actual total batch
auto_scale_lr = dict(base_batch_size=16)
