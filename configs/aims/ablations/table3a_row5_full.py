# Table 3a row 5 (also 3b row 6, 4a row 2, 4b row 4, 6 row 7): the full
# AIMS, MPE + TCM + AM, all eight sample types.
# Paper semantics (inherited from ../aims_swin-t.py): unannotated pixels are
# background on full-image samples.
_base_ = '../aims_swin-t.py'
