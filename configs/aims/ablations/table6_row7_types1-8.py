# Table 6 row 7: all eight sample types = the full AIMS (batch 8 per GPU).
# Paper semantics (inherited from ../aims_swin-t.py): unannotated pixels are
# background on full-image samples.
_base_ = './table3a_row5_full.py'
