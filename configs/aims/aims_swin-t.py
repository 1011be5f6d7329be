# AIMS with Swin-T: the paper's ablation setting (Tables 3, 4 and 6, the
# full model's rows): MPE + TCM + AM, five datasets, 36k iterations, batch
# 64 (8 GPUs x 8), AdamW 1e-4. Base of every ablation leaf in ablations/.
#
# Paper semantics: pixels outside an image's valid_region are background on
# full-image samples (train_cfg.unannotated='background').
# Initial weights: ImageNet Swin-T backbone (model base). The paper starts
# the whole model from COCO-Entity weights: convert a mmdet Mask2Former
# checkpoint with tools/model_converters/mask2former_to_aims.py (all three
# decoders by default) and train with --cfg-options load_from=FILE.
_base_ = [
    '../_base_/models/aims_swin-t.py', '../_base_/datasets/aims_5datasets.py',
    '../_base_/schedules/schedule_36k.py', '../_base_/default_runtime.py'
]

model = dict(train_cfg=dict(unannotated='background'))
load_from = None

optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.swin_custom_keys))
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=4000, save_last=True))
