# Baseline of the entity framework's CPU counterpart (paper 002, Table 2a
# row 1): plain class-agnostic CondInst, the same model, data and schedule
# as entity-condinst_r18_synthetic.py without the global kernel bank and
# the overlap suppression.
_base_ = './entity-condinst_r18_synthetic.py'

model = dict(mask_head=dict(kernel_bank=False, loss_overlap=None))
