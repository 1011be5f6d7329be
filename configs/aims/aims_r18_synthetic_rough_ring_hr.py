# aims_r18_synthetic_rough_ring.py with mask features at 1/2 of the input
# instead of 1/4 (model.mask_upsampler, ImageGuidedMaskUpsampler; not part
# of the paper): children that a rough prompt does not outline are only as
# precise as the model's own mask logits. Same data, schedule, seed, loss
# points and margin clip; docs/inference.md ("Rough prompts") measures it.
_base_ = './aims_r18_synthetic_rough_ring.py'

model = dict(mask_upsampler=dict(type='ImageGuidedMaskUpsampler', out_stride=2))
