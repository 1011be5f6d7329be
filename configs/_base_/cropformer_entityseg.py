# CropFormer's parts for the EntitySeg configs (paper 003, Sec. 4-5), added
# by configs/cropformer/cropformer_swin-*_entityseg.py to the Mask2Former
# entity baseline of the same backbone and schedule, as
# cropformer_r18_synthetic.py adds them to the synthetic baseline:
#
#   _base_ = ['./mask2former_swin-t_8xb2-1x_entityseg.py',
#             '../_base_/cropformer_entityseg.py']
#   model = _base_.cropformer_model
#   train_pipeline = _base_.cropformer_train_pipeline
#   test_pipeline = _base_.cropformer_test_pipeline
#   train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
#   val_dataloader = test_dataloader = dict(
#       dataset=dict(pipeline=test_pipeline))
#
# The names carry a cropformer_ prefix because keys may not repeat among
# bases. The batch level has the widths of the baseline's entity decoder:
# - association module (eq. 4): one block of cross-attention, self-attention
#   and FFN, 8 heads, FFN 2048 (the released ENTITY.FUSE_* settings);
# - batch decoder (eq. 5-6): 9 blocks of Mask2Former's decoder layer
#   (FFN 2048, 8 heads), the depth the released decoder runs the batch
#   queries through (it reuses the image decoder's 9 blocks; mmaims's batch
#   decoder has weights of its own, Φ_b of eq. 5);
# - joint matching and losses with Mask2Former's costs and weights, on
#   12,544 points (the released TRAIN_NUM_POINTS); image-level losses at
#   weight 1 (eq. 7; the released code uses 0.5).
crop_ratio = 0.7  # δ of eq. 1 (Table 9a)

cropformer_model = dict(
    type='CropFormer',
    data_preprocessor=dict(type='CropFormerDataPreprocessor'),
    image_loss_weight=1.0,
    batch_head=dict(
        type='CropFormerBatchHead',
        # eq. 4; Table 9c switches: self_attn_cfg / ffn_cfg = None
        association=dict(
            cross_attn_cfg=dict(num_heads=8, dropout=0.0),
            self_attn_cfg=dict(num_heads=8, dropout=0.0),
            ffn_cfg=dict(
                feedforward_channels=2048,
                num_fcs=2,
                ffn_drop=0.0,
                act_cfg=dict(type='ReLU', inplace=True))),
        # channels, queries and feature levels default to the entity
        # decoder's
        batch_decoder=dict(
            transformer_decoder=dict(
                return_intermediate=True,
                num_layers=9,
                layer_cfg=dict(
                    self_attn_cfg=dict(
                        num_heads=8, dropout=0.0, batch_first=True),
                    cross_attn_cfg=dict(
                        num_heads=8, dropout=0.0, batch_first=True),
                    ffn_cfg=dict(
                        feedforward_channels=2048,
                        num_fcs=2,
                        ffn_drop=0.0,
                        act_cfg=dict(type='ReLU', inplace=True))),
                init_cfg=None)),
        train_cfg=dict(
            num_points=12544,
            oversample_ratio=3.0,
            importance_sample_ratio=0.75,
            assigner=dict(
                type='JointViewHungarianAssigner',
                match_costs=[dict(type='ClassificationCost', weight=2.0)],
                view_match_costs=[
                    dict(
                        type='CrossEntropyLossCost',
                        weight=5.0,
                        use_sigmoid=True),
                    dict(type='DiceCost', weight=5.0, pred_act=True, eps=1.0)
                ]))),
    # crop-ensemble inference (Sec. 4.3, merge_crop_predictions): the score
    # of an entity is its batch-level entityness (no re-scoring)
    test_cfg=dict(
        _delete_=True,
        decoder='batch',
        views='full+crops',
        mask_thr=0.5,
        nonoverlap=True,
        rescore=False,
        max_per_image=100,
        score_thr=0.0))

# The baseline's data (configs/_base_/datasets/entityseg.py) with
# CropFormerViews in place of the resize: training on the full image and one
# random corner crop, both at a short side of 640-800 (step 32, long side <=
# 1333); testing on the full image and its four corner crops at short side
# 800, long side 1333. Entities are filtered before the views are cut (a
# transform after CropFormerViews must not remove entities).
cropformer_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadHierarchicalAnnotations', levels=('entity', )),
    dict(type='HierarchicalRandomFlip', prob=0.5),
    dict(type='FilterHierarchicalAnnotations', min_gt_mask_area=16),
    dict(
        type='CropFormerViews',
        scale=[(1333, short) for short in range(640, 801, 32)],
        crop_ratio=crop_ratio),
    dict(type='SampleTaskPrompt', supervise_all_levels=False),
    dict(type='PackCropFormerInputs'),
]
cropformer_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadHierarchicalAnnotations', levels=('entity', )),
    dict(
        type='CropFormerViews',
        scale=(1333, 800),
        crop_ratio=crop_ratio,
        test_mode=True),
    dict(type='SampleTaskPrompt', default_sample_type=0),
    dict(type='PackCropFormerInputs'),
]
