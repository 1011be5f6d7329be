# COCO + ADE20K panoptic as entities (paper 002, Sec. 6.3: 118,287 COCO and
# 20,210 ADE20K training images, evaluated on COCO val and on ADE20K val).
# Convert ADE20K with the ADE20K panoptic converter (docs/converters.md
# section 7), one file per split:
#   python tools/dataset_converters/aims_convert.py ade20k-panoptic \
#       data/ade/ADEChallengeData2016/ade20k_panoptic_train.json \
#       data/ade/ADEChallengeData2016/ade20k_panoptic_train \
#       --img-prefix ade/ADEChallengeData2016/images/training/ \
#       --out data/aims/ade20k_train.json
#   (and the same for val into data/aims/ade20k_val.json)
# The paper trains on the two sets concatenated ("pre-sampled 138,497
# images"), so images are drawn uniformly from the union (mmengine's
# ConcatDataset and InfiniteSampler; AIMSTaskDataset's sampler would draw
# the two sources half and half). The val loader is COCO's; test on ADE20K
# with --cfg-options test_dataloader.dataset.ann_file=aims/ade20k_val.json
# test_evaluator.ann_file=data/aims/ade20k_val.json.
_base_ = './coco_entity.py'

# SampleTaskPrompt serves each image as sample type 1 (its default here):
# full image, entity level
train_pipeline = [
    dict(type='SampleTaskPrompt', default_sample_type=1,
         supervise_all_levels=False) if t['type'] == 'SampleTaskPrompt' else t
    for t in _base_.train_pipeline
]
ade20k_train = dict(
    type=_base_.dataset_type,
    data_root=_base_.data_root,
    ann_file='aims/ade20k_train.json',
    data_prefix=dict(img=''),
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    pipeline=train_pipeline,
    backend_args=_base_.backend_args)
train_dataloader = dict(
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[
            dict(_base_.coco_train, pipeline=train_pipeline), ade20k_train
        ]))
