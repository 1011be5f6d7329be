# The baseline of the entity framework (paper 002, Table 2a row 1: 28.3
# AP^e): CondInst with one category (entityness), no kernel bank, no
# overlap suppression; everything else as
# entity-condinst_r50_fpn_8xb2-1x_coco-entity.py.
_base_ = './entity-condinst_r50_fpn_8xb2-1x_coco-entity.py'

model = dict(mask_head=dict(kernel_bank=False, loss_overlap=None))
