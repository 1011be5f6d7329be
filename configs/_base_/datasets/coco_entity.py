# COCO panoptic as entities (paper 002, Sec. 6.2: 118,287 train and 5,000
# val images, every thing and stuff segment an entity, AP^e with
# non-overlapping masks). Convert with the COCO panoptic converter
# (docs/converters.md section 1):
#   python tools/dataset_converters/aims_convert.py coco-panoptic \
#       data/coco/annotations/panoptic_train2017.json \
#       data/coco/annotations/panoptic_train2017 \
#       --img-prefix coco/train2017/ --out data/aims/coco_train.json
#   python tools/dataset_converters/aims_convert.py coco-panoptic \
#       data/coco/annotations/panoptic_val2017.json \
#       data/coco/annotations/panoptic_val2017 \
#       --img-prefix coco/val2017/ --out data/aims/coco_val.json
# Every image is trained as a full image (sample type 1) with its entity
# level only. Multi-scale training: short side 640-800 step 32, long side
# <= 1333, flips (Sec. 6.2); single-scale testing at 800 / 1333.
dataset_type = 'HierarchicalCocoDataset'
data_root = 'data/'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadHierarchicalAnnotations', levels=('entity', )),
    dict(type='HierarchicalRandomFlip', prob=0.5),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, short) for short in range(640, 801, 32)],
        resize_type='HierarchicalResize',
        keep_ratio=True),
    dict(type='FilterHierarchicalAnnotations', min_gt_mask_area=16),
    dict(type='SampleTaskPrompt', supervise_all_levels=False),
    dict(type='PackAIMSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadHierarchicalAnnotations', levels=('entity', )),
    dict(type='HierarchicalResize', scale=(1333, 800), keep_ratio=True),
    dict(type='SampleTaskPrompt', default_sample_type=0),
    dict(type='PackAIMSInputs'),
]


coco_train = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file='aims/coco_train.json',
    data_prefix=dict(img=''),
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    pipeline=[],
    backend_args=backend_args)
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='TaskBalancedSampler', batch_size=2),
    dataset=dict(
        type='AIMSTaskDataset',
        datasets=[coco_train],
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
        ann_file='aims/coco_val.json',
        data_prefix=dict(img=''),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# aims/entity_mAP_nonoverlap is AP^e (Table 2's AP^m_e), with _50 / _75
val_evaluator = dict(
    type='FederatedMetric', ann_file=data_root + 'aims/coco_val.json')
test_evaluator = val_evaluator
