# aims_r18_synthetic_rough_ring_hr.py with the rough-prompt flag (not part
# of the paper): the mask prompt encoder learns a vector that is added to
# the encoded prompt of the prompts SampleTaskPrompt roughened, so that one
# model can trust the border of an exact prompt (a picked mask) and look
# past that of a drawn one (a box, a loose mask, strokes). At inference the
# caller says which a prompt is (session.prompt(..., rough=...); drill-down
# evaluation: rough iff perturbed). Same data, schedule, seed, loss points
# and clip; docs/inference.md ("Rough prompts") measures it.
_base_ = './aims_r18_synthetic_rough_ring_hr.py'

model = dict(prompt_encoder=dict(rough_flag=True))
