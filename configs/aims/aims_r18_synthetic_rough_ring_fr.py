# aims_r18_synthetic_rough_ring_hr.py with mask features at the input
# resolution (ImageGuidedMaskUpsampler with out_stride=1) instead of 1/2:
# the second arm of the "Finer mask features" study of docs/inference.md.
# Same data, schedule, seed, loss points and margin clip; about 3x the
# training time of ring_hr on CPU.
_base_ = './aims_r18_synthetic_rough_ring_hr.py'

model = dict(mask_upsampler=dict(out_stride=1))
