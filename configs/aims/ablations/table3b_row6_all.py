# Table 3b row 6: all prompt types = the full AIMS.
# Paper semantics (inherited from ../aims_swin-t.py): unannotated pixels are
# background on full-image samples.
_base_ = './table3a_row5_full.py'
