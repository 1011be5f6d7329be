# Table 4b row 2: TCM with self-attention only (no FFN, no ADD).
_base_ = [
    '../_base_/models/aims_swin-t.py', '../_base_/datasets/aims_5datasets.py',
    '../_base_/schedules/schedule_36k.py', '../_base_/default_runtime.py'
]

model = dict(
    decode_head=dict(
        tcm=dict(with_self_attn=True, with_ffn=False, with_add=False)))

optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.swin_custom_keys))
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=4000, save_last=True))
