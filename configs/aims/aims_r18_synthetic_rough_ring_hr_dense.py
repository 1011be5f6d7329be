# aims_r18_synthetic_rough_ring_hr.py with one loss point per mask logit
# cell (train_cfg.num_points=4096 for the 64 x 64 logits of a 128 x 128
# input, the rule of the r18 base, whose 1,024 points match its 32 x 32
# logits): the point-sampled mask loss rarely lands on a child that leaks
# confidently into the band between the object and a grown prompt. Same
# data, schedule, seed, upsampler and margin clip; docs/inference.md
# ("Rough prompts") measures it.
_base_ = './aims_r18_synthetic_rough_ring_hr.py'

model = dict(train_cfg=dict(num_points=4096))
