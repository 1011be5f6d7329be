# CPU counterpart of the EntitySeg Mask2Former baseline on the synthetic
# data of the main job (README "Main job"): the small ResNet-18 model of
# _base_/models/aims_r18-c64.py reduced to class-agnostic Mask2Former (one
# entity decoder of 20 queries; no MPE, TCM or AM), trained from scratch on
# full images only (sample type 1: the entity annotations of toy_ppp,
# toy_psg and toy_entityseg) with the main job's schedule (2,000
# iterations of batch 8 on 128 x 128 images). The val split is the main
# job's, so aims/entity_mAP and aims/entity_mAP_nonoverlap (AP^e) compare
# with the full AIMS model's. mmaims semantics: pixels outside valid_region
# are left out of the loss (the model base's default). Generate the data
# first:
#   python tools/misc/make_synthetic_dataset.py data/aims_synthetic \
#       --num-images 1000 --seed 0
_base_ = [
    '../_base_/models/aims_r18-c64.py',
    '../_base_/datasets/aims_synthetic_entity.py',
    '../_base_/schedules/schedule_synthetic_2k.py',
    '../_base_/default_runtime.py'
]

model = dict(
    prompt_encoder=None,
    association_head=None,
    decode_head=dict(decoders=('entity', ), num_queries=20, tcm=None))

default_hooks = dict(
    logger=dict(type='AIMSLoggerHook', interval=20),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=250,
        max_keep_ckpts=2,
        save_last=True))
randomness = dict(seed=0)
