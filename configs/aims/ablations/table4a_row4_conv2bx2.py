# Table 4a row 4: mask prompt encoder (CONV2B x 2) without CONV1.
# Paper semantics (inherited from ../aims_swin-t.py): unannotated pixels are
# background on full-image samples.
_base_ = '../aims_swin-t.py'

model = dict(prompt_encoder=dict(num_conv1=0))
