# Table 4b row 3: TCM with self-attention and FFN, without ADD (eq. 6):
# G_ff(G_SA(E)) replaces E, no identity path through the module.
# Paper semantics (inherited from ../aims_swin-t.py): unannotated pixels are
# background on full-image samples.
_base_ = '../aims_swin-t.py'

model = dict(
    decode_head=dict(
        tcm=dict(with_self_attn=True, with_ffn=True, with_add=False)))
