# GPU smoke test of configs/aims/aims_swin-l_fsdp.py: the bf16 + activation
# checkpointing smoke config trained with FlexibleRunner + FSDP (the same
# strategy, configs/_base_/fsdp.py). Needs CUDA, e.g. one GPU:
#   bash tools/dist_train.sh \
#       configs/aims/smoke/aims_swin-l_fsdp_synthetic.py 1
# Its checkpoint is a full state dict: tools/test.py loads it with the
# non-FSDP smoke config.
_base_ = ['./aims_swin-l_bf16-cp_synthetic.py', '../../_base_/fsdp.py']
