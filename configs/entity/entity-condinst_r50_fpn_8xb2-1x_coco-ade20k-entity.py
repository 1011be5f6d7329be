# entity-condinst_r50_fpn_8xb2-1x_coco-entity.py trained on COCO + ADE20K
# as entities (paper 002, Sec. 6.3, Table 7's cross-dataset setting).
_base_ = [
    '../_base_/models/entity-condinst_r50_fpn.py',
    '../_base_/datasets/coco-ade20k_entity.py',
    '../_base_/schedules/schedule_entity_1x.py',
    '../_base_/default_runtime.py'
]
