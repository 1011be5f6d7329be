# Table 4a row 2: MPE (CONV2B x 2) + (CONV1), the paper default = the full
# AIMS.
# Paper semantics (inherited from ../aims_swin-t.py): unannotated pixels are
# background on full-image samples.
_base_ = './table3a_row5_full.py'
