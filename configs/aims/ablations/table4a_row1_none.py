# Table 4a row 1: no mask prompt encoder = the Sec. 3.1 baseline.
# Paper semantics (inherited from ../aims_swin-t.py): unannotated pixels are
# background on full-image samples.
_base_ = './table3a_row1_baseline.py'
