# EntitySeg "1x" schedule (paper 003, Sec. 5): 34,375 iterations, learning
# rate x0.1 after 30,525 and 33,138 iterations; "Nx" multiplies the three
# numbers by N (schedule_entityseg_3x.py). The other settings are
# Mask2Former's COCO ones, which the paper keeps ("the same
# hyper-parameters of the COCO training"): batch 16 (8 GPUs x 2), AdamW
# with learning rate 1e-4 and weight decay 0.05, backbone learning rate
# x0.1, no weight decay on norms and query / level embeddings, gradient
# clipping at 0.01. The authors' released config names a poly scheduler
# next to these steps; this follows the paper's text (step decay).
# The optimizer is the one of schedule_36k.py (Mask2Former's settings).
_base_ = './schedule_36k.py'

train_cfg = dict(max_iters=34375, val_interval=34375)
param_scheduler = dict(end=34375, milestones=[30525, 33138])

# with `--auto-scale-lr` the learning rate is scaled linearly to the
# actual total batch
auto_scale_lr = dict(base_batch_size=16)
