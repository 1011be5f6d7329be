# Table 3a row 4: baseline + association module.
_base_ = [
    '../_base_/models/aims_swin-t.py', '../_base_/datasets/aims_5datasets.py',
    '../_base_/schedules/schedule_36k.py', '../_base_/default_runtime.py'
]

model = dict(prompt_encoder=None, decode_head=dict(tcm=None))
# Without MPE the model cannot see a prompt, so it trains on the full-image
# sample types only (paper Table 6, row 1).
train_dataloader = dict(dataset=dict(sample_types=(1, 2, 3)))

optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.swin_custom_keys))
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=4000, save_last=True))
