# configs/aims/aims_swin-l.py with the two memory switches of large-scale
# training on (the same model, data and schedule):
#
# - bf16 automatic mixed precision: mmengine's AmpOptimWrapper runs the
#   forward pass under torch.autocast(dtype=torch.bfloat16); the weights,
#   the optimizer state and the gradient clipping stay in float32. bf16
#   keeps float32's exponent range, so no loss scaling is needed (fp16 is
#   `tools/train.py --amp`, with dynamic loss scaling). Needs a GPU with
#   bf16 support (Ampere or newer); mmengine's AmpOptimWrapper refuses CPU.
# - activation checkpointing of the Swin-L backbone (`with_cp`, mmdet's
#   switch): each Swin block's activations are recomputed in the backward
#   pass instead of kept, the largest share of the training memory at
#   800 x 1333 (about 20-30 % slower steps, the usual trade).
#
# Either switch alone, on any AIMS config:
#   --cfg-options optim_wrapper.type=AmpOptimWrapper \
#       optim_wrapper.dtype=bfloat16
#   --cfg-options model.backbone.with_cp=True
_base_ = './aims_swin-l.py'

model = dict(backbone=dict(with_cp=True))
optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16')
