# Mask2Former entity baseline on EntitySeg, Swin-L, 1x schedule (paper 003
# reports Swin-L at 3x only, Table 3: 46.2 AP^e; this is its 1x schedule,
# 34,375 iterations, lr x0.1 after 30,525 and 33,138). Class-agnostic
# Mask2Former = the AIMS model with one entity decoder
# (_base_/models/mask2former-entity_swin-l.py); batch 16 (8 GPUs x 2).
#
# Initial weights: ImageNet-22k Swin-L (model base). For Table 3's
# COCO-Entity initialisation convert a class-agnostic mmdet Mask2Former
# Swin-L checkpoint with
#   python tools/model_converters/mask2former_to_aims.py M2F_COCO-E.pth \
#       checkpoints/mask2former_swin-l_coco-entity_init.pth \
#       --config configs/cropformer/mask2former_swin-l_8xb2-1x_entityseg.py \
#       --decoders entity
# and train with
#   --cfg-options load_from=checkpoints/mask2former_swin-l_coco-entity_init.pth
_base_ = [
    '../_base_/models/mask2former-entity_swin-l.py',
    '../_base_/datasets/entityseg.py',
    '../_base_/schedules/schedule_entityseg_1x.py',
    '../_base_/default_runtime.py'
]

load_from = None

optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.swin_custom_keys))
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=5000, save_last=True))
