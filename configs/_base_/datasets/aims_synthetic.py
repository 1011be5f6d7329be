# The embedded synthetic dataset (CPU main job). Generate it first:
#   python tools/misc/make_synthetic_dataset.py data/aims_synthetic \
#       --num-images 1000 --seed 0
# Sources: toy_ppp, toy_psg, toy_entityseg, toy_paco (see docs/data.md).
dataset_type = 'HierarchicalCocoDataset'
data_root = 'data/aims_synthetic/'
backend_args = None
image_size = (128, 128)

# paper dataset name -> `source` values of the synthetic files (COCO has no
# synthetic counterpart: toy_entityseg plays the dense-entity role)
source_map = dict(
    coco=[],
    entityseg='toy_entityseg',
    ppp='toy_ppp',
    psg='toy_psg',
    paco='toy_paco')

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadHierarchicalAnnotations'),
    dict(type='HierarchicalRandomFlip', prob=0.5),
    dict(
        type='RandomResize',
        scale=image_size,
        ratio_range=(0.8, 1.25),
        resize_type='HierarchicalResize',
        keep_ratio=True),
    dict(
        type='HierarchicalRandomCrop',
        crop_size=image_size,
        crop_type='absolute',
        allow_negative_crop=False),
    dict(type='FilterHierarchicalAnnotations', min_gt_mask_area=4),
    dict(type='SampleTaskPrompt', supervise_all_levels=True),
    dict(type='PackAIMSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadHierarchicalAnnotations'),
    # drill-down prompts from the GT, for FederatedMetric(drill_down=True)
    dict(type='LoadDrillDownPrompts'),
    dict(type='HierarchicalResize', scale=image_size, keep_ratio=True),
    dict(type='SampleTaskPrompt', default_sample_type=0),
    dict(type='PackAIMSInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='TaskBalancedSampler', batch_size=8),
    dataset=dict(
        type='AIMSTaskDataset',
        datasets=[
            dict(
                type=dataset_type,
                data_root=data_root,
                ann_file='annotations/train.json',
                data_prefix=dict(img='images/'),
                filter_cfg=dict(filter_empty_gt=True, min_size=8),
                pipeline=[],
                backend_args=backend_args)
        ],
        source_map=source_map,
        sample_types=(1, 2, 3, 4, 5, 6, 7, 8),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/val.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# drill_down: every GT entity with parts and every relation is also given
# as a mask prompt, scored against its parts / two entities (docs/formats.md
# section 3)
val_evaluator = dict(
    type='FederatedMetric',
    ann_file=data_root + 'annotations/val.json',
    drill_down=True)
test_evaluator = val_evaluator
