# Table 6 row 1: no task prompts = the Sec. 3.1 baseline (batch 8 per GPU).
# Paper semantics (inherited from ../aims_swin-t.py): unannotated pixels are
# background on full-image samples.
_base_ = './table3a_row1_baseline.py'
