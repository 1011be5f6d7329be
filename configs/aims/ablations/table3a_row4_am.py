# Table 3a row 4: baseline + association module (no MPE, so full-image
# sample types 1-3 only, as the baseline).
# Paper semantics (inherited from ../aims_swin-t.py): unannotated pixels are
# background on full-image samples.
_base_ = '../aims_swin-t.py'

model = dict(prompt_encoder=None, decode_head=dict(tcm=None))
train_dataloader = dict(dataset=dict(sample_types=(1, 2, 3)))
