# Class-agnostic Mask2Former for entity segmentation, the EntitySeg
# baseline of CropFormer (paper 003, Sec. 4.1 and Table 3), built from the
# AIMS model with a single decoder: Swin-T backbone, MSDeformAttn pixel
# decoder and one entity decoder (9 blocks, 100 queries, entity /
# no-entity logits, CE + BCE + Dice with Hungarian matching), without the
# mask prompt encoder, the task complementarity module and the
# association module. With these switches the decoder computes what
# mmdet's Mask2FormerHead computes (MultiLevelDecoderHead), so a mmdet
# Mask2Former checkpoint converts onto it
# (tools/model_converters/mask2former_to_aims.py --decoders entity).
# Initial weights: the ImageNet-1k Swin-T of aims_swin-t.py.
_base_ = ['./aims_swin-t.py']

model = dict(
    prompt_encoder=None,
    association_head=None,
    decode_head=dict(decoders=('entity', ), num_queries=100, tcm=None),
    # Mask2Former's semantics: EntitySeg's unlabeled pixels (outside
    # valid_region, the union of the masks) are background, not ignored
    train_cfg=dict(unannotated='background'))
