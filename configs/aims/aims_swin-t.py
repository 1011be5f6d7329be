# AIMS with Swin-T: the paper's ablation setting (Tables 3-4, last rows):
# MPE + TCM + AM, five datasets, 36k iterations, batch 64 (8 GPUs x 8).
_base_ = [
    '../_base_/models/aims_swin-t.py', '../_base_/datasets/aims_5datasets.py',
    '../_base_/schedules/schedule_36k.py', '../_base_/default_runtime.py'
]

# Initial weights, user-supplied (nothing is downloaded at runtime). The
# paper starts from COCO-entity weights; convert a mmdet Mask2Former
# checkpoint with tools/model_converters/mask2former_to_aims.py and point
# load_from at the result.
load_from = None

optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.swin_custom_keys))
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=4000, save_last=True))
