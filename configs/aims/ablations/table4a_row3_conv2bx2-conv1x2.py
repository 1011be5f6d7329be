# Table 4a row 3: mask prompt encoder (CONV2B x 2) + (CONV1 x 2).
# Paper semantics (inherited from ../aims_swin-t.py): unannotated pixels are
# background on full-image samples.
_base_ = '../aims_swin-t.py'

model = dict(prompt_encoder=dict(num_conv1=2))
