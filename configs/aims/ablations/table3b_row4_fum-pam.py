# Table 3b row 4: full + partial-image prompts (FUM + PAM) = Table 6 row 4.
# Paper semantics (inherited from ../aims_swin-t.py): unannotated pixels are
# background on full-image samples.
_base_ = './table6_row4_types1-6.py'
