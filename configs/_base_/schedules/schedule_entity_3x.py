# schedule_entity_1x.py tripled (paper 002, Sec. 6.3: 36 epochs): 270,000
# iterations of 16 images, steps at 210,000 and 250,000 (AdelaiDet's 3x).
_base_ = './schedule_entity_1x.py'

train_cfg = dict(max_iters=270000, val_interval=30000)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        by_epoch=False,
        begin=0,
        end=270000,
        milestones=[210000, 250000],
        gamma=0.1)
]
