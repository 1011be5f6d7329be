# Table 3b row 3: partial-image prompts only (PAM) = Table 6 row 3.
# Paper semantics (inherited from ../aims_swin-t.py): unannotated pixels are
# background on full-image samples.
_base_ = './table6_row3_types4-6.py'
