# The Table 3a / Table 6 study on CPU (docs/study_table1.md): the full AIMS
# of the main job (half-width ResNet-18 from scratch, MPE + TCM + AM, all
# eight sample types) on the Table 1 profile of the synthetic data, with
# the paper's semantics (unannotated pixels are background on full-image
# samples). tools/analysis_tools/study_table1.py switches modules, sample
# types, semantics and seeds per run; every run has the same iterations
# and batch.
_base_ = [
    '../../_base_/models/aims_r18-c64.py',
    '../../_base_/datasets/aims_synthetic_table1.py',
    '../../_base_/schedules/schedule_synthetic_2k.py',
    '../../_base_/default_runtime.py'
]

model = dict(from_scratch=True, train_cfg=dict(unannotated='background'))

max_iters = 1000
train_cfg = dict(max_iters=max_iters, val_interval=max_iters + 1)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(
        type='MultiStepLR',
        by_epoch=False,
        begin=0,
        end=max_iters,
        milestones=[int(max_iters * 0.85)],
        gamma=0.1)
]
default_hooks = dict(
    logger=dict(type='AIMSLoggerHook', interval=50),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=max_iters,
        max_keep_ckpts=1,
        save_last=True))
randomness = dict(seed=0)
