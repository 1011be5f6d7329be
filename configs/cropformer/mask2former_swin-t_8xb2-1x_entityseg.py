# Mask2Former entity baseline on EntitySeg, Swin-T, 1x schedule (paper 003,
# Table 3: 33.2 AP^e from ImageNet weights, 39.5 from COCO-Entity weights;
# Table 7 row 1, the baseline of CropFormer's ablations). Class-agnostic
# Mask2Former = the AIMS model with one entity decoder
# (_base_/models/mask2former-entity_swin-t.py); batch 16 (8 GPUs x 2).
#
# Initial weights: ImageNet-1k Swin-T (model base). Table 3's "COCO-E" rows
# start the whole model from a class-agnostic Mask2Former trained on COCO
# converted to entities (COCO-Entity). Convert such a mmdet Mask2Former
# Swin-T checkpoint (2 logits: entity / no entity) onto this model with
#   python tools/model_converters/mask2former_to_aims.py M2F_COCO-E.pth \
#       checkpoints/mask2former_swin-t_coco-entity_init.pth \
#       --config configs/cropformer/mask2former_swin-t_8xb2-1x_entityseg.py \
#       --decoders entity
# and train with
#   --cfg-options load_from=checkpoints/mask2former_swin-t_coco-entity_init.pth
_base_ = [
    '../_base_/models/mask2former-entity_swin-t.py',
    '../_base_/datasets/entityseg.py',
    '../_base_/schedules/schedule_entityseg_1x.py',
    '../_base_/default_runtime.py'
]

load_from = None

optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.swin_custom_keys))
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=5000, save_last=True))
