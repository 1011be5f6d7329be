# Table 3a row 2: baseline + mask prompt encoder (all eight sample types).
# Paper semantics (inherited from ../aims_swin-t.py): unannotated pixels are
# background on full-image samples.
_base_ = '../aims_swin-t.py'

model = dict(decode_head=dict(tcm=None), association_head=None)
