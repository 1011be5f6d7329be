# Mask2Former entity baseline on EntitySeg, Swin-T, 3x schedule (paper 003,
# Table 3 and Table 10a: 40.9 AP^e from COCO-Entity weights, the best
# schedule for Mask2Former; 103,125 iterations, lr x0.1 after 91,575 and
# 99,414). Model, data and batch as
# mask2former_swin-t_8xb2-1x_entityseg.py.
#
# Initial weights: ImageNet-1k Swin-T (model base). For Table 3's
# COCO-Entity initialisation convert a class-agnostic mmdet Mask2Former
# Swin-T checkpoint with
#   python tools/model_converters/mask2former_to_aims.py M2F_COCO-E.pth \
#       checkpoints/mask2former_swin-t_coco-entity_init.pth \
#       --config configs/cropformer/mask2former_swin-t_8xb2-3x_entityseg.py \
#       --decoders entity
# and train with
#   --cfg-options load_from=checkpoints/mask2former_swin-t_coco-entity_init.pth
_base_ = [
    '../_base_/models/mask2former-entity_swin-t.py',
    '../_base_/datasets/entityseg.py',
    '../_base_/schedules/schedule_entityseg_3x.py',
    '../_base_/default_runtime.py'
]

load_from = None

optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.swin_custom_keys))
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=10000, save_last=True))
