# EntitySeg for class-agnostic entity segmentation (paper 003, Sec. 5.1:
# 31,913 train and 1,314 test images, every annotation an entity, AP^e
# with non-overlapping masks). Convert the annotation files of the
# low-resolution images ("_lr", short side 800, long side <= 1333) with
# the EntitySeg converter (docs/converters.md section 2, docs/cropformer.md):
#   python tools/dataset_converters/aims_convert.py entityseg \
#       data/entityseg/entityseg_train_lr.json --img-prefix entityseg/ \
#       --img-dir data/entityseg --out data/aims/entityseg_train.json
#   python tools/dataset_converters/aims_convert.py entityseg \
#       data/entityseg/entityseg_val_lr.json --img-prefix entityseg/ \
#       --img-dir data/entityseg --out data/aims/entityseg_val.json
# Every image is trained as sample type 1 (full image -> entity decoder):
# the model has the entity decoder only.
dataset_type = 'HierarchicalCocoDataset'
data_root = 'data/'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadHierarchicalAnnotations', levels=('entity', )),
    dict(type='HierarchicalRandomFlip', prob=0.5),
    # short side 640-800 step 32, long side <= 1333 (the released configs)
    dict(
        type='RandomChoiceResize',
        scales=[(1333, short) for short in range(640, 801, 32)],
        resize_type='HierarchicalResize',
        keep_ratio=True),
    dict(type='FilterHierarchicalAnnotations', min_gt_mask_area=16),
    dict(type='SampleTaskPrompt', supervise_all_levels=False),
    dict(type='PackAIMSInputs'),
]
# single-scale inference at short side 800, long side 1333 (Table 7 row 1)
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadHierarchicalAnnotations', levels=('entity', )),
    dict(type='HierarchicalResize', scale=(1333, 800), keep_ratio=True),
    dict(type='SampleTaskPrompt', default_sample_type=0),
    dict(type='PackAIMSInputs'),
]

train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='TaskBalancedSampler', batch_size=2),
    dataset=dict(
        type='AIMSTaskDataset',
        datasets=[
            dict(
                type=dataset_type,
                data_root=data_root,
                ann_file='aims/entityseg_train.json',
                data_prefix=dict(img=''),
                filter_cfg=dict(filter_empty_gt=True, min_size=32),
                pipeline=[],
                backend_args=backend_args)
        ],
        sample_types=(1, ),
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
        ann_file='aims/entityseg_val.json',
        data_prefix=dict(img=''),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# aims/entity_mAP_nonoverlap is AP^e (every pixel kept by its best-scoring
# mask); aims/entity_mAP is the AP of the overlapping masks
val_evaluator = dict(
    type='FederatedMetric', ann_file=data_root + 'aims/entityseg_val.json')
test_evaluator = val_evaluator
