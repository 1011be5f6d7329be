# Table 3b row 2: full-image prompts only (FUM) = Table 6 row 2.
# Paper semantics (inherited from ../aims_swin-t.py): unannotated pixels are
# background on full-image samples.
_base_ = './table6_row2_types1-3.py'
