# The CPU main job (aims_r18_synthetic.py) trained for rough prompts (issue
# 19): the prompts of half of the prompted samples (types 4-8) are replaced
# by a box, a mask dilated by 3 px or eroded by 2 px, a lasso polygon
# (3 px) or three brush strokes of it, drawn uniformly; targets and loss
# region stay those of the exact prompt (SampleTaskPrompt, rough_prompts).
# Same data, model, schedule and seed as the main job; docs/inference.md
# ("Rough prompts") compares the two.
_base_ = './aims_r18_synthetic.py'

rough_prompts = dict(
    prob=0.5,
    perturbations=[
        'box',
        dict(type='dilate', k=3),
        dict(type='erode', k=2),
        dict(type='polygon', tolerance=3.0),
        dict(type='strokes', num=3, width=3),
    ])
train_pipeline = [
    dict(t, rough_prompts=rough_prompts)
    if t['type'] == 'SampleTaskPrompt' else t for t in _base_.train_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
