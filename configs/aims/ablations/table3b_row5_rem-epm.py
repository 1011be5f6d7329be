# Table 3b row 5: dual-entity and single-entity prompts only (REM + EPM,
# sample types 7 and 8): one sample of each type per GPU (batch 2 x 8 GPUs),
# learning rate scaled linearly with the batch (Table 6's note).
# TrainSetupCheckHook warns that the association module gets no targets
# here: types 7 and 8 supervise one decoder each.
# Paper semantics (inherited from ../aims_swin-t.py): unannotated pixels are
# background on full-image samples.
_base_ = '../aims_swin-t.py'

train_dataloader = dict(
    batch_size=2,
    sampler=dict(batch_size=2),
    dataset=dict(sample_types=(7, 8)))
optim_wrapper = dict(optimizer=dict(lr=1e-4 * 2 / 8))
auto_scale_lr = dict(base_batch_size=2 * 8)
