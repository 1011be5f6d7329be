# aims_r18_synthetic_rough.py with every prompted sample (types 4-8,
# roughened or not) supervised over the whole image
# (rough_prompts.loss_region='image'): outside the prompted region every
# child mask is background, so drill-down can keep whole masks
# (test_cfg.prompt_clip) instead of cutting them at a prompt that missed a
# few pixels. Same data, model, schedule and seed as the main job;
# docs/inference.md ("Rough prompts") compares the three.
_base_ = './aims_r18_synthetic_rough.py'

rough_prompts = dict(_base_.rough_prompts, loss_region='image')
train_pipeline = [
    dict(t, rough_prompts=rough_prompts)
    if t['type'] == 'SampleTaskPrompt' else t for t in _base_.train_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
