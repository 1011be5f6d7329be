# Table 3b row 1: no mask prompt at all = the Sec. 3.1 baseline.
# Paper semantics (inherited from ../aims_swin-t.py): unannotated pixels are
# background on full-image samples.
_base_ = './table3a_row1_baseline.py'
