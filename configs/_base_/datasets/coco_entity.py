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
# The data pipelines and loaders are those of EntitySeg (entityseg.py,
# the same recipe); only the files change.
_base_ = './entityseg.py'

coco_train = dict(
    type=_base_.dataset_type,
    data_root=_base_.data_root,
    ann_file='aims/coco_train.json',
    data_prefix=dict(img=''),
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    pipeline=[],
    backend_args=_base_.backend_args)
train_dataloader = dict(dataset=dict(datasets=[coco_train]))
val_dataloader = dict(dataset=dict(ann_file='aims/coco_val.json'))
test_dataloader = val_dataloader

# aims/entity_mAP_nonoverlap is AP^e (Table 2's AP^m_e), with _50 / _75
val_evaluator = dict(ann_file=_base_.data_root + 'aims/coco_val.json')
test_evaluator = val_evaluator
