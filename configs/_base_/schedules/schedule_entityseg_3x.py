# EntitySeg "3x" schedule (paper 003, Sec. 5 and Table 3, where Mask2Former
# is best at 3x): the 1x numbers times 3, i.e. 103,125 iterations with the
# learning rate x0.1 after 91,575 and 99,414 iterations (the numbers of the
# authors' released 3x configs); everything else as 1x.
_base_ = './schedule_entityseg_1x.py'

train_cfg = dict(max_iters=103125, val_interval=103125)
param_scheduler = dict(end=103125, milestones=[91575, 99414])
