# The CPU main job (README "Main job"): the full AIMS (MPE + TCM + AM, all
# eight sample types over the four synthetic sources) with a small ResNet-18
# trained from scratch on 128 x 128 synthetic images, 2,000 iterations of
# batch 8 on a 2-core CPU. mmaims semantics: pixels outside valid_region are
# left out of the loss (train_cfg.unannotated='ignore', the model base's
# default). Generate the data first:
#   python tools/misc/make_synthetic_dataset.py data/aims_synthetic \
#       --num-images 1000 --seed 0
_base_ = [
    '../_base_/models/aims_r18-c64.py', '../_base_/datasets/aims_synthetic.py',
    '../_base_/schedules/schedule_synthetic_2k.py',
    '../_base_/default_runtime.py'
]

default_hooks = dict(
    logger=dict(type='AIMSLoggerHook', interval=20),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=250,
        max_keep_ckpts=2,
        save_last=True))
randomness = dict(seed=0)
