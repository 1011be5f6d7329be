# Table 3a row 2: baseline + mask prompt encoder.
_base_ = [
    '../_base_/models/aims_swin-t.py', '../_base_/datasets/aims_5datasets.py',
    '../_base_/schedules/schedule_36k.py', '../_base_/default_runtime.py'
]

model = dict(decode_head=dict(tcm=None), association_head=None)

optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.swin_custom_keys))
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=4000, save_last=True))
