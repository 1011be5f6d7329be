# AIMS with ResNet-50: MPE + TCM + AM, five datasets, 36k iterations,
# batch 64 (8 GPUs x 8).
#
# Paper semantics: pixels outside an image's valid_region are background on
# full-image samples (train_cfg.unannotated='background').
# Initial weights: torchvision's ImageNet ResNet-50 (model base, as mmdet's
# Mask2Former R-50). For COCO-Entity weights convert a mmdet Mask2Former
# R-50 checkpoint with tools/model_converters/mask2former_to_aims.py and
# train with --cfg-options load_from=FILE.
_base_ = [
    '../_base_/models/aims_r50.py', '../_base_/datasets/aims_5datasets.py',
    '../_base_/schedules/schedule_36k.py', '../_base_/default_runtime.py'
]

model = dict(train_cfg=dict(unannotated='background'))
load_from = None

default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=4000, save_last=True))
