# Table 3a row 1 (also Tables 3b, 4a, 4b and 6, row 1): the Sec. 3.1 base
# framework. Shared image encoder and three independent decoders; no MPE,
# no TCM, no AM (links from mask overlap). Without MPE the model cannot see
# a prompt, so it trains on the full-image sample types 1-3 only, at the
# full model's batch (8 per GPU) and learning rate.
# Paper semantics (inherited from ../aims_swin-t.py): unannotated pixels are
# background on full-image samples.
_base_ = '../aims_swin-t.py'

model = dict(
    prompt_encoder=None, decode_head=dict(tcm=None), association_head=None)
train_dataloader = dict(dataset=dict(sample_types=(1, 2, 3)))
