# The paper's training set: COCO, EntitySeg, PPP, PACO and COCO-PSG
# converted with tools/dataset_converters/aims_convert.py, then split with
# `aims_convert.py split ... --out-dir data/aims/split` (evaluation images
# removed from train). images[].file_name carry their per-source prefix
# (coco/..., entityseg/..., VOC2010/...), resolved from data_root.
dataset_type = 'HierarchicalCocoDataset'
data_root = 'data/'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadHierarchicalAnnotations'),
    dict(type='HierarchicalRandomFlip', prob=0.5),
    # paper recipe: short side 640-800 step 32, long side <= 1333
    dict(
        type='RandomChoiceResize',
        scales=[(1333, short) for short in range(640, 801, 32)],
        resize_type='HierarchicalResize',
        keep_ratio=True),
    dict(type='FilterHierarchicalAnnotations', min_gt_mask_area=16),
    dict(type='SampleTaskPrompt', supervise_all_levels=True),
    dict(type='PackAIMSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadHierarchicalAnnotations'),
    # drill-down prompts from the GT, for FederatedMetric(drill_down=True)
    dict(type='LoadDrillDownPrompts'),
    dict(type='HierarchicalResize', scale=(1333, 800), keep_ratio=True),
    dict(type='SampleTaskPrompt', default_sample_type=0),
    dict(type='PackAIMSInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='TaskBalancedSampler', batch_size=8),
    dataset=dict(
        type='AIMSTaskDataset',
        datasets=[
            dict(
                type=dataset_type,
                data_root=data_root,
                ann_file='aims/split/train.json',
                data_prefix=dict(img=''),
                filter_cfg=dict(filter_empty_gt=True, min_size=32),
                pipeline=[],
                backend_args=backend_args)
        ],
        # Table 5 pools with the converters' source names (identity map);
        # switch datasets off with exclude_sources=['paco', ...] and
        # sample types off with sample_types=(1, 2, ...)
        sample_types=(1, 2, 3, 4, 5, 6, 7, 8),
        exclude_sources=[],
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='aims/split/eval.json',
        data_prefix=dict(img=''),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# eval.json holds the PPP and COCO-PSG evaluation images; the metric also
# reports every key per source (aims/ppp/..., aims/psg/...)
# (drill_down: every GT entity with parts and every relation is also given
# as a mask prompt, scored against its parts / two entities; docs/formats.md
# section 3)
val_evaluator = dict(
    type='FederatedMetric',
    ann_file=data_root + 'aims/split/eval.json',
    drill_down=True)
test_evaluator = val_evaluator
