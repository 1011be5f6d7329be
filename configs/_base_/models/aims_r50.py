# AIMS (paper Sec. 3) with a ResNet-50 backbone: shared image encoder
# (backbone + MSDeformAttn pixel decoder), mask prompt encoder (MPE), three
# Mask2Former decoders (part, entity, relation) with the task
# complementarity module (TCM), association module (AM).
# Switches (Table 3a): prompt_encoder=None (MPE off),
# decode_head.tcm=None (TCM off), association_head=None (AM off).
# Initial weights as mmdet's Mask2Former R-50: the ImageNet backbone of
# torchvision (frozen BatchNorm, as with any pretrained mmdet ResNet);
# override with model.backbone.init_cfg.checkpoint=/local/resnet50.pth.
# The paper starts from COCO-Entity weights: convert them with
# tools/model_converters/mask2former_to_aims.py and set load_from.
# Training from random weights needs model.from_scratch=True (it makes the
# norm layers trainable); without weights and without it, training stops
# at start (TrainSetupCheckHook).
data_preprocessor = dict(
    type='AIMSDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_size_divisor=32,
    pad_mask=True,
    mask_pad_value=0)

model = dict(
    type='AIMS',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    pixel_decoder=dict(
        type='MSDeformAttnPixelDecoder',
        in_channels=[256, 512, 1024, 2048],
        strides=[4, 8, 16, 32],
        # the model's width: every other channel count (attention and FFN
        # widths, decoders, prompt encoder, association module, positional
        # encodings) is derived from these two by AIMS (fill_widths)
        feat_channels=256,
        out_channels=256,
        num_outs=3,
        norm_cfg=dict(type='GN', num_groups=32),
        act_cfg=dict(type='ReLU'),
        encoder=dict(  # DeformableDetrTransformerEncoder
            num_layers=6,
            layer_cfg=dict(  # DeformableDetrTransformerEncoderLayer
                self_attn_cfg=dict(  # MultiScaleDeformableAttention
                    num_heads=8,
                    num_levels=3,
                    num_points=4,
                    dropout=0.0,
                    batch_first=True),
                ffn_cfg=dict(
                    feedforward_channels=1024,
                    num_fcs=2,
                    ffn_drop=0.0,
                    act_cfg=dict(type='ReLU', inplace=True)))),
        positional_encoding=dict(normalize=True)),
    # eq. 10-11, Table 4a row 2: (CONV2B x 2) + (CONV1)
    prompt_encoder=dict(
        type='MaskPromptEncoder',
        hidden_channels=(4, 16),
        num_conv1=1),
    decode_head=dict(
        type='MultiLevelDecoderHead',
        decoders=('part', 'entity', 'relation'),
        num_queries=100,
        num_transformer_feat_level=3,
        enforce_decoder_input_project=False,
        positional_encoding=dict(normalize=True),
        transformer_decoder=dict(  # Mask2FormerTransformerDecoder
            return_intermediate=True,
            num_layers=9,
            layer_cfg=dict(  # Mask2FormerTransformerDecoderLayer
                self_attn_cfg=dict(  # MultiheadAttention
                    num_heads=8,
                    dropout=0.0,
                    batch_first=True),
                cross_attn_cfg=dict(  # MultiheadAttention
                    num_heads=8,
                    dropout=0.0,
                    batch_first=True),
                ffn_cfg=dict(
                    feedforward_channels=2048,
                    num_fcs=2,
                    ffn_drop=0.0,
                    act_cfg=dict(type='ReLU', inplace=True))),
            init_cfg=None),
        # eq. 5-7; Table 4b: with_self_attn (SA), with_ffn (FF), with_add
        tcm=dict(
            type='TaskComplementarityModule',
            with_self_attn=True,
            with_ffn=True,
            with_add=True),
        tcm_pairs=(('entity', 'part'), ('relation', 'entity')),
        loss_cls=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=2.0,
            reduction='mean',
            class_weight=[1.0, 0.1]),  # object, no object
        loss_mask=dict(
            type='CrossEntropyLoss',
            use_sigmoid=True,
            reduction='mean',
            loss_weight=5.0),
        loss_dice=dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            reduction='mean',
            naive_dice=True,
            eps=1.0,
            loss_weight=5.0)),
    # eq. 8-9. The BCE is balanced (positive and negative query pairs
    # averaged separately): linked pairs are a few in thousands. Weight 5:
    # each pair's loss then weighs about as much as one decoder's last-block
    # loss at initialisation (measured with
    # tools/analysis_tools/loss_shares.py, README "Association loss").
    association_head=dict(
        type='AssociationHead',
        balanced=True,
        loss_assoc=dict(
            type='CrossEntropyLoss',
            use_sigmoid=True,
            reduction='mean',
            loss_weight=5.0)),
    post_processor=dict(type='AIMSPostProcessor'),
    train_cfg=dict(
        # pixels outside an image's valid_region (its annotated area):
        # 'ignore' = left out of the loss (mmaims's default, an improvement
        # over the paper), 'background' = background on full-image samples
        # (the paper; the configs that reproduce its tables set it)
        unannotated='ignore',
        num_points=12544,
        oversample_ratio=3.0,
        importance_sample_ratio=0.75,
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='ClassificationCost', weight=2.0),
                dict(
                    type='CrossEntropyLossCost', weight=5.0, use_sigmoid=True),
                dict(type='DiceCost', weight=5.0, pred_act=True, eps=1.0)
            ]),
        sampler=dict(type='MaskPseudoSampler')),
    test_cfg=dict(
        # per level: a value, or dict(part=..., entity=..., relation=...)
        max_per_image=100,
        score_thr=0.0,
        nonoverlap=False,
        # links between the kept masks, per type
        max_links_per_image=100,
        link_score_thr=0.0,
        link_with_mask_scores=True,
        # prompt inference: prompt type -> decoder, decoder -> output level
        prompt_decoders=dict(one_entity='part', two_entities='relation'),
        prompt_output_levels=dict(
            part='part', entity='entity', relation='entity')),
    init_cfg=None)
