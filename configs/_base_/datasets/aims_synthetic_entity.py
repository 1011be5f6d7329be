# The synthetic data of the main job (aims_synthetic.py) for an entity
# segmenter: the entity level only, every training image a full image
# (sample type 1: the entity annotations of toy_ppp, toy_psg and
# toy_entityseg), the main job's val split scored without drill-down (a
# model without MPE predicts no prompted output). The CPU counterparts of
# the entity models (configs/cropformer/mask2former_entity_r18_synthetic.py,
# configs/entity/*_r18_synthetic.py) share it, so their AP^e compare with
# each other and with the full AIMS model's.
_base_ = './aims_synthetic.py'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadHierarchicalAnnotations', levels=('entity', )),
    dict(type='HierarchicalRandomFlip', prob=0.5),
    dict(
        type='RandomResize',
        scale=_base_.image_size,
        ratio_range=(0.8, 1.25),
        resize_type='HierarchicalResize',
        keep_ratio=True),
    dict(
        type='HierarchicalRandomCrop',
        crop_size=_base_.image_size,
        crop_type='absolute',
        allow_negative_crop=False),
    dict(type='FilterHierarchicalAnnotations', min_gt_mask_area=4),
    # the entity decoder only: no other level is supervised
    dict(type='SampleTaskPrompt', supervise_all_levels=False),
    dict(type='PackAIMSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadHierarchicalAnnotations', levels=('entity', )),
    dict(type='HierarchicalResize', scale=_base_.image_size, keep_ratio=True),
    dict(type='SampleTaskPrompt', default_sample_type=0),
    dict(type='PackAIMSInputs'),
]
train_dataloader = dict(
    dataset=dict(sample_types=(1, ), pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# no drill-down: a model without MPE predicts no prompted output
val_evaluator = dict(drill_down=False)
test_evaluator = val_evaluator
