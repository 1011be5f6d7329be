# AIMS with ResNet-50: MPE + TCM + AM, five datasets, 36k iterations,
# batch 64 (8 GPUs x 8).
_base_ = [
    '../_base_/models/aims_r50.py', '../_base_/datasets/aims_5datasets.py',
    '../_base_/schedules/schedule_36k.py', '../_base_/default_runtime.py'
]

# Initial weights, user-supplied (nothing is downloaded at runtime), e.g.
# COCO-entity weights converted with
# tools/model_converters/mask2former_to_aims.py.
load_from = None

default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=4000, save_last=True))
