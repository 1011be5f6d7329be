# GPU smoke test of configs/aims/aims_swin-l_fsdp.py: the bf16 + activation
# checkpointing smoke config trained with FlexibleRunner + FSDP (the same
# strategy as the paper-scale FSDP config). Needs CUDA, e.g. one GPU:
#   bash tools/dist_train.sh \
#       configs/aims/smoke/aims_swin-l_fsdp_synthetic.py 1
# Its checkpoint is a full state dict: tools/test.py loads it with the
# non-FSDP smoke config.
_base_ = './aims_swin-l_bf16-cp_synthetic.py'

runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    state_dict_cfg='full',
    model_wrapper=dict(
        auto_wrap_policy=dict(
            type='torch.distributed.fsdp.wrap.size_based_auto_wrap_policy',
            min_num_params=int(1e7)),
        use_orig_params=True))
