# Table 4b row 4: TCM with SA, FF and ADD (eq. 5-6) = the full AIMS.
# Paper semantics (inherited from ../aims_swin-t.py): unannotated pixels are
# background on full-image samples.
_base_ = './table3a_row5_full.py'
