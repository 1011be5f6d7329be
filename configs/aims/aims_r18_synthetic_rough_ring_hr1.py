# aims_r18_synthetic_rough_ring_hr.py with the mask features at the input
# resolution (out_stride=1) instead of 1/2. docs/inference.md ("Rough
# prompts") measures both.
_base_ = './aims_r18_synthetic_rough_ring_hr.py'

model = dict(mask_upsampler=dict(out_stride=1))
