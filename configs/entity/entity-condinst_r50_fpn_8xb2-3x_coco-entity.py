# entity-condinst_r50_fpn_8xb2-1x_coco-entity.py with the 3x schedule
# (36 epochs).
_base_ = [
    '../_base_/models/entity-condinst_r50_fpn.py',
    '../_base_/datasets/coco_entity.py',
    '../_base_/schedules/schedule_entity_3x.py',
    '../_base_/default_runtime.py'
]
