# The entity framework (paper 002, Table 2a last row: 29.8 AP^e on COCO
# val with R-50, 1x): class-agnostic CondInst + global kernel bank +
# overlap suppression, ImageNet R-50, COCO panoptic as entities, 1x.
# Not reproduced by mmaims (nothing was trained on COCO).
_base_ = [
    '../_base_/models/entity-condinst_r50_fpn.py',
    '../_base_/datasets/coco_entity.py',
    '../_base_/schedules/schedule_entity_1x.py',
    '../_base_/default_runtime.py'
]
