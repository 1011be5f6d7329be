# CropFormer on EntitySeg, Swin-L, 1x schedule (not in paper 003: its text
# gives CropFormer with Swin-T only and leaves Swin-L to the supplementary
# file; no Swin-L 1x baseline either).
# The baseline mask2former_swin-l_8xb2-1x_entityseg.py
# (its model, data, schedule and batch 16 = 8 GPUs x 2: CropFormer uses "the
# same entity training setting of Mask2Former", Sec. 5.2) plus CropFormer's
# parts (../_base_/cropformer_entityseg.py): association module and batch
# decoder (eq. 4-6), one random corner crop per sample in training, the full
# image and its four corner crops merged at test time (Sec. 4.3), crop ratio
# 0.7.
#
# Initial weights: ImageNet-22k Swin-L (model base). The paper starts from
# COCO-Entity weights: convert a class-agnostic mmdet Mask2Former Swin-L
# checkpoint onto the image-level part with
#   python tools/model_converters/mask2former_to_aims.py M2F_COCO-E.pth \
#       checkpoints/mask2former_swin-l_coco-entity_init.pth \
#       --config configs/cropformer/mask2former_swin-l_8xb2-1x_entityseg.py \
#       --decoders entity
# and train with
#   --cfg-options load_from=checkpoints/mask2former_swin-l_coco-entity_init.pth
# (the batch level keeps its random initialisation; mmengine warns about
# the batch_head.* keys missing from the checkpoint).
_base_ = [
    './mask2former_swin-l_8xb2-1x_entityseg.py',
    '../_base_/cropformer_entityseg.py'
]

model = _base_.cropformer_model
train_pipeline = _base_.cropformer_train_pipeline
test_pipeline = _base_.cropformer_test_pipeline
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
