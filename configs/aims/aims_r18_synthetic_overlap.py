# The CPU main job (aims_r18_synthetic.py) with the overlap suppression loss
# of open-world entity segmentation (Sec. 5.3, eq. 3-4; issue 18) on the
# entity and part decoders: per exhaustively annotated sample, a softmax over
# the queries matched to the targets and its Dice against them, inside the
# loss region, last decoder block only (docs/entity_segmentation.md). Never
# on the relation decoder (its masks overlap by design).
# The weight equals the decoders' own Dice weight (5.0), as the paper gives
# its overlap loss the weight of the Dice loss of the path used at
# inference (lambda_7 = 1). Same data, model, schedule and seed as the main
# job otherwise; not trained yet.
_base_ = './aims_r18_synthetic.py'

model = dict(
    decode_head=dict(
        loss_overlap=dict(
            type='OverlapSuppressionLoss',
            loss_weight=5.0,
            levels=('entity', 'part'))))
