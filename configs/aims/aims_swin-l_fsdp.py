# configs/aims/aims_swin-l_bf16-cp.py trained with PyTorch's Fully Sharded
# Data Parallel through mmengine's FlexibleRunner and FSDPStrategy: the
# parameters, gradients and optimizer state are sharded across the GPUs
# instead of replicated (DDP), for machines whose GPUs cannot hold Swin-L
# AIMS with its AdamW state each. Launch as any config:
#
#   bash tools/dist_train.sh configs/aims/aims_swin-l_fsdp.py 8
#
# Submodules of at least 10M parameters (the large Swin-L stages, the
# pixel decoder) become FSDP units of their own; `use_orig_params` keeps the
# parameter names, so the optimizer's per-key settings (backbone lr x0.1,
# no decay on norms and embeddings) apply as in the DDP config.
# Checkpoints are saved as full state dicts on rank 0, loadable by the
# non-FSDP configs, tools/test.py and the inferencer.
#
# FSDP needs a CUDA device: torch's FullyShardedDataParallel has no CPU
# backend, so tools/train.py stops with an error on a machine without CUDA
# (the DDP configs train there on gloo).
_base_ = './aims_swin-l_bf16-cp.py'

runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    state_dict_cfg='full',
    model_wrapper=dict(
        auto_wrap_policy=dict(
            type='torch.distributed.fsdp.wrap.size_based_auto_wrap_policy',
            min_num_params=int(1e7)),
        use_orig_params=True))
