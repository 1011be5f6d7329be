# The synthetic dataset with the annotation inconsistency of the paper's
# Table 1 (docs/data.md, "Table 1 profile"): five train sources mimicking
# COCO, PPP, COCO-PSG, PACO and EntitySeg, an exhaustive val split. 96 x 96
# images (the study's budget, docs/study_table1.md). Generate it first:
#   python tools/misc/make_synthetic_dataset.py data/aims_synthetic_table1 \
#       --profile table1 --num-images 1000 --size 96 --seed 0
_base_ = './aims_synthetic.py'

data_root = 'data/aims_synthetic_table1/'
image_size = (96, 96)
# paper dataset name -> `source` of the generated files
source_map = dict(
    coco='t1_coco',
    entityseg='t1_entityseg',
    ppp='t1_ppp',
    psg='t1_psg',
    paco='t1_paco')

train_pipeline = [
    dict(type='LoadImageFromFile'),
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
    dict(type='LoadImageFromFile'),
    dict(type='LoadHierarchicalAnnotations'),
    dict(type='LoadDrillDownPrompts'),
    dict(type='HierarchicalResize', scale=image_size, keep_ratio=True),
    dict(type='SampleTaskPrompt', default_sample_type=0),
    dict(type='PackAIMSInputs'),
]
train_dataloader = dict(
    dataset=dict(
        datasets=[
            dict(
                type='HierarchicalCocoDataset',
                data_root=data_root,
                ann_file='annotations/train.json',
                data_prefix=dict(img='images/'),
                filter_cfg=dict(filter_empty_gt=True, min_size=8),
                pipeline=[])
        ],
        source_map=source_map,
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/val.json',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/val.json')
test_evaluator = val_evaluator
