# CropFormer (paper 003, Sec. 4) on the CPU synthetic data of the main job:
# the Mask2Former entity baseline of mask2former_entity_r18_synthetic.py
# (the main job's ResNet-18 model with the entity decoder only, 20 queries)
# plus the association module (eq. 4) and the batch decoder (eq. 5-6) on
# the full image and one corner crop (training; four at test time,
# merged by the crop ensemble of Sec. 4.3). Losses: eq. 7, the image-level
# entity losses on every view and the batch-level losses with joint
# matching. No full run has been made with this config.
_base_ = './mask2former_entity_r18_synthetic.py'

crop_ratio = 0.7  # δ of eq. 1 (Table 9a)

model = dict(
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
                feedforward_channels=256,
                num_fcs=2,
                ffn_drop=0.0,
                act_cfg=dict(type='ReLU', inplace=True))),
        # eq. 5-6: channels, queries and feature levels default to the
        # entity decoder's
        batch_decoder=dict(
            transformer_decoder=dict(
                return_intermediate=True,
                num_layers=3,
                layer_cfg=dict(
                    self_attn_cfg=dict(
                        num_heads=8, dropout=0.0, batch_first=True),
                    cross_attn_cfg=dict(
                        num_heads=8, dropout=0.0, batch_first=True),
                    ffn_cfg=dict(
                        feedforward_channels=256,
                        num_fcs=2,
                        ffn_drop=0.0,
                        act_cfg=dict(type='ReLU', inplace=True))),
                init_cfg=None)),
        train_cfg=dict(
            num_points=1024,
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
    # crop-ensemble inference (merge_crop_predictions)
    test_cfg=dict(
        _delete_=True,
        mask_thr=0.5,
        nonoverlap=True,
        rescore=False,
        max_per_image=20,
        score_thr=0.0))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadHierarchicalAnnotations', levels=('entity', )),
    dict(type='HierarchicalRandomFlip', prob=0.5),
    dict(type='FilterHierarchicalAnnotations', min_gt_mask_area=4),
    dict(
        type='CropFormerViews', scale=_base_.image_size,
        crop_ratio=crop_ratio),
    dict(type='SampleTaskPrompt', supervise_all_levels=False),
    dict(type='PackCropFormerInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadHierarchicalAnnotations', levels=('entity', )),
    dict(
        type='CropFormerViews',
        scale=_base_.image_size,
        crop_ratio=crop_ratio,
        test_mode=True),
    dict(type='SampleTaskPrompt', default_sample_type=0),
    dict(type='PackCropFormerInputs'),
]
train_dataloader = dict(
    dataset=dict(sample_types=(1, ), pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
