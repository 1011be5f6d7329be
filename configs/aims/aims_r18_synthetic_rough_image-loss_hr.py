# aims_r18_synthetic_rough_image-loss.py with mask features at 1/2 of the
# input (model.mask_upsampler, as aims_r18_synthetic_rough_ring_hr.py) and
# drill-down masks kept whole (test_cfg.prompt_clip='none'): every prompted
# sample is supervised over the whole image, so the children should stop at
# the prompted region by themselves, also where a rough prompt missed a thin
# piece that no clip can bring back. docs/inference.md ("Rough prompts")
# measures it.
_base_ = './aims_r18_synthetic_rough_image-loss.py'

model = dict(
    mask_upsampler=dict(type='ImageGuidedMaskUpsampler', out_stride=2),
    test_cfg=dict(prompt_clip='none'))
