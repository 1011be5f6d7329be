# configs/aims/aims_swin-l_bf16-cp.py trained with PyTorch's Fully Sharded
# Data Parallel (configs/_base_/fsdp.py: mmengine's FlexibleRunner and
# FSDPStrategy): the parameters, gradients and optimizer state are sharded
# across the GPUs instead of replicated (DDP), for machines whose GPUs
# cannot hold Swin-L AIMS with its AdamW state each. Launch as any config:
#
#   bash tools/dist_train.sh configs/aims/aims_swin-l_fsdp.py 8
#
# FSDP needs a CUDA device: torch's FullyShardedDataParallel has no CPU
# backend, so tools/train.py stops with an error on a machine without CUDA
# (the DDP configs train there on gloo).
_base_ = ['./aims_swin-l_bf16-cp.py', '../_base_/fsdp.py']
