# Table 4b row 2: TCM with self-attention only (no FF, no ADD): the fused
# embeddings G_SA(E) replace E before each decoder's own FFN.
# Paper semantics (inherited from ../aims_swin-t.py): unannotated pixels are
# background on full-image samples.
_base_ = '../aims_swin-t.py'

model = dict(
    decode_head=dict(
        tcm=dict(with_self_attn=True, with_ffn=False, with_add=False)))
