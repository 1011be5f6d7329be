# The Sec. 3.1 base framework on the synthetic main job, for comparison with
# aims_r18_synthetic.py: shared image encoder and three independent
# decoders; no MPE, no TCM, no AM (links from mask overlap). Without MPE the
# model cannot see a prompt, so it trains on the full-image sample types 1-3
# only (paper Table 6, row 1). mmaims semantics, like the full model above:
# pixels outside valid_region are left out of the loss
# (train_cfg.unannotated='ignore'), so this baseline already gets part of
# what the paper's MPE remedies; the paper's baseline makes them background
# (train_cfg.unannotated='background', configs/aims/ablations/).
_base_ = [
    '../_base_/models/aims_r18-c64.py', '../_base_/datasets/aims_synthetic.py',
    '../_base_/schedules/schedule_synthetic_2k.py',
    '../_base_/default_runtime.py'
]

model = dict(
    prompt_encoder=None, decode_head=dict(tcm=None), association_head=None)
train_dataloader = dict(dataset=dict(sample_types=(1, 2, 3)))

default_hooks = dict(
    logger=dict(type='AIMSLoggerHook', interval=20),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=250,
        max_keep_ckpts=2,
        save_last=True))
randomness = dict(seed=0)
