# Training with PyTorch's Fully Sharded Data Parallel through mmengine's
# FlexibleRunner and FSDPStrategy (README "Memory switches and FSDP"):
# sub-modules of at least 10M parameters become FSDP units of their own;
# `use_orig_params` keeps the parameter names, so the optimizer's per-key
# settings apply as without FSDP; checkpoints are full state dicts saved on
# rank 0, loadable by the non-FSDP configs. Needs CUDA.
runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    state_dict_cfg='full',
    model_wrapper=dict(
        auto_wrap_policy=dict(
            type='torch.distributed.fsdp.wrap.size_based_auto_wrap_policy',
            min_num_params=int(1e7)),
        use_orig_params=True))
