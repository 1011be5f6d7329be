# Table 6 row 2: full-image prompts only (sample types 1-3), with MPE.
# One sample of each enabled type per GPU (batch 3 x 8 GPUs) and the
# learning rate scaled linearly with the batch, as Table 6's note says
# (the full model: 8 types, batch 8 per GPU, lr 1e-4).
# Paper semantics (inherited from ../aims_swin-t.py): unannotated pixels are
# background on full-image samples.
_base_ = '../aims_swin-t.py'

train_dataloader = dict(
    batch_size=3,
    sampler=dict(batch_size=3),
    dataset=dict(sample_types=(1, 2, 3)))
optim_wrapper = dict(optimizer=dict(lr=1e-4 * 3 / 8))
auto_scale_lr = dict(base_batch_size=3 * 8)
