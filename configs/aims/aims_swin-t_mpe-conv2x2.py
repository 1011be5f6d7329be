# Table 4a row 4: mask prompt encoder (CONV2B x 2) without CONV1.
_base_ = [
    '../_base_/models/aims_swin-t.py', '../_base_/datasets/aims_5datasets.py',
    '../_base_/schedules/schedule_36k.py', '../_base_/default_runtime.py'
]

model = dict(prompt_encoder=dict(num_conv1=0))

optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.swin_custom_keys))
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=4000, save_last=True))
