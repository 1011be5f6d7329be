default_scope = 'mmaims'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='AIMSLoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=5000, max_keep_ckpts=3),
    sampler_seed=dict(type='TaskSamplerSeedHook'),
    # stops a run without initial weights (unless model.from_scratch=True)
    # and warns when the association module would get no targets
    setup_check=dict(type='TrainSetupCheckHook'),
    visualization=dict(type='DetVisualizationHook'))

# On a machine without CUDA, tools/train.py and tools/test.py switch the
# backend to gloo and start the process group themselves.
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='AIMSLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)

log_level = 'INFO'
load_from = None
resume = False
