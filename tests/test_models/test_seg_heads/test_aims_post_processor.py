# Copyright (c) mmaims contributors. All rights reserved.
import pytest
import torch
from mmdet.structures import DetDataSample

from mmaims.models.layers import DecoderOutput
from mmaims.models.seg_heads import AIMSPostProcessor

BIG = 1000.0  # sigmoid 1 even at the bilinear mask edges


def _meta(img_shape=(16, 16), ori_shape=(32, 32), pad=(16, 16)):
    return DetDataSample(
        metainfo=dict(
            img_id=3,
            img_shape=img_shape,
            ori_shape=ori_shape,
            batch_input_shape=pad))


def _outputs(masks, obj_logits):
    """One image; ``masks`` (Q, 4, 4) bool at 1/4 of a 16 x 16 input."""
    q = len(obj_logits)
    cls = torch.zeros(1, q, 2)
    cls[0, :, 0] = torch.tensor(obj_logits)
    mask_logits = torch.where(masks, BIG, -BIG).float()[None]
    return DecoderOutput(
        cls_scores=[cls], mask_preds=[mask_logits], query_feats=None)


def _grid(*cells):
    m = torch.zeros(4, 4, dtype=torch.bool)
    for r, c in cells:
        m[r, c] = True
    return m


def _rows(*rows):
    """Full-width bands: bilinear resizing keeps their edges exact (a
    convex corner of a cell block loses pixels)."""
    m = torch.zeros(4, 4, dtype=torch.bool)
    m[list(rows)] = True
    return m


def _cols(*cols):
    return _rows(*cols).t().contiguous()


def test_scores_topk_threshold_and_rescale():
    masks = torch.stack([
        _rows(0),
        _rows(3),
        _grid(),  # empty: dropped
        _rows(2)
    ])
    outputs = dict(entity=_outputs(masks, [3.0, 1.0, 5.0, -4.0]))
    post = AIMSPostProcessor(test_cfg=dict(max_per_image=3, score_thr=0.1))
    prompts = torch.ones(1, 1, 16, 16)
    result = post.predict(outputs, [_meta()], [dict(entity='entity')],
                          prompts)[0]
    ent = result['entity']
    # top-3 by objectness: queries 2 (empty), 0, 1; query 3 never considered
    assert len(ent) == 2
    obj = torch.softmax(torch.tensor([[3.0, 0.0], [1.0, 0.0]]), -1)[:, 0]
    # score = objectness x mean mask probability (1 here)
    assert torch.allclose(ent.scores, obj)
    assert ent.masks.shape == (2, 32, 32) and ent.masks.dtype == torch.bool
    # query 0 covers the first row of cells: 4 x 16 pixels in the input,
    # 8 x 32 at ori size
    assert ent.masks[0].sum() == 8 * 32
    assert ent.masks[0, :8].all()
    assert torch.equal(ent.bboxes[0], torch.tensor([0., 0., 32., 8.]))
    assert torch.equal(ent.labels, torch.zeros(2, dtype=torch.long))


def test_padding_is_cropped_before_rescale():
    # image 12 x 16 inside a 16 x 16 batch; ori 24 x 32
    masks = torch.stack([_rows(0, 3)])
    outputs = dict(part=_outputs(masks, [2.0]))
    post = AIMSPostProcessor()
    prompts = torch.zeros(1, 1, 16, 16)
    prompts[..., :12, :] = 1
    result = post.predict(outputs, [_meta((12, 16), (24, 32))],
                          [dict(part='part')], prompts)[0]
    mask = result['part'].masks[0]
    assert mask.shape == (24, 32)
    # the padding row 3 is gone, row 0 is 4 x 16 in the 12 x 16 image and
    # 8 x 32 at ori size
    assert mask.sum() == 8 * 32 and mask[:8].all()


def test_prompt_clips_the_masks():
    masks = torch.stack([_grid((0, 0), (0, 1), (1, 0), (1, 1))])
    outputs = dict(part=_outputs(masks, [2.0]))
    prompts = torch.zeros(1, 1, 16, 16)
    prompts[..., :4, :8] = 1  # the top row of cells 0 and 1
    post = AIMSPostProcessor()
    result = post.predict(outputs, [_meta(ori_shape=(16, 16))],
                          [dict(part='part')], prompts)[0]
    assert result['part'].masks[0].sum() == 4 * 8
    assert not result['part'].masks[0, 4:].any()


def test_prompt_clip_modes():
    """A prompt on the top half: the first two masks lie inside it, the
    third (the whole image) half inside."""
    masks = torch.stack([_rows(0), _rows(0, 1), _rows(0, 1, 2, 3)])
    outputs = dict(part=_outputs(masks, [3.0, 2.0, 1.0]))
    prompts = torch.zeros(1, 1, 16, 16)
    prompts[..., :8, :] = 1  # rows 0-1 of the 4 x 4 cells: 8 of 16 pixels
    meta = [_meta(ori_shape=(16, 16))]
    areas = {}
    for clip in ('hard', 'margin', 'inside', 'none'):
        post = AIMSPostProcessor(test_cfg=dict(prompt_clip=clip))
        result = post.predict(outputs, meta, [dict(part='part')],
                              prompts)[0]['part']
        areas[clip] = sorted(result.masks.flatten(1).sum(1).tolist())
    # hard: every mask cut to the prompt
    assert areas['hard'] == [4 * 16, 8 * 16, 8 * 16]
    # margin (3 px by default): cut to the prompt grown by 3 rows
    assert areas['margin'] == [4 * 16, 8 * 16, 11 * 16]
    # inside: whole masks at least half inside (the full-image mask is
    # exactly half inside), none cut
    assert areas['inside'] == [4 * 16, 8 * 16, 16 * 16]
    # none: every mask whole
    assert areas['none'] == [4 * 16, 8 * 16, 16 * 16]
    post = AIMSPostProcessor(test_cfg=dict(prompt_clip='soft'))
    with pytest.raises(ValueError, match='prompt_clip must be one of'):
        post.predict(outputs, meta, [dict(part='part')], prompts)


def test_prompt_clip_margin_keeps_what_an_eroded_prompt_missed():
    """A prompt 2 px smaller than a part on both sides: the hard clip cuts
    the part to the prompt, a margin of 2 or more gives it back whole, a
    margin of 1 half way; a mask beyond the grown prompt (the whole image)
    is still cut at the margin."""
    masks = torch.stack([_rows(1, 2), _rows(0, 1, 2, 3)])  # y 4..11, all
    outputs = dict(part=_outputs(masks, [3.0, 2.0]))
    prompts = torch.zeros(1, 1, 16, 16)
    prompts[..., 6:10, :] = 1  # the part eroded by 2 px (rows)
    meta = [_meta(ori_shape=(16, 16))]
    rows = {}
    for margin in (0, 1, 2, 5):
        post = AIMSPostProcessor(
            test_cfg=dict(prompt_clip='margin', prompt_clip_margin=margin))
        part, whole = post.predict(outputs, meta, [dict(part='part')],
                                   prompts)[0]['part'].masks
        rows[margin] = (int(part.sum()) // 16, int(whole.sum()) // 16)
    hard = AIMSPostProcessor().predict(outputs, meta, [dict(part='part')],
                                       prompts)[0]['part'].masks
    assert rows[0] == (4, 4) and hard.sum() == 2 * 4 * 16
    assert rows[1] == (6, 6)
    assert rows[2] == (8, 8)
    assert rows[5] == (8, 14)
    for margin in (-1, 1.5, True):
        post = AIMSPostProcessor(
            test_cfg=dict(prompt_clip='margin', prompt_clip_margin=margin))
        with pytest.raises(ValueError, match='prompt_clip_margin'):
            post.predict(outputs, meta, [dict(part='part')], prompts)


def test_prompt_clip_inside_drops_masks_mostly_outside():
    masks = torch.stack([_rows(0), _rows(1, 2, 3)])
    outputs = dict(part=_outputs(masks, [3.0, 2.0]))
    prompts = torch.zeros(1, 1, 16, 16)
    prompts[..., :4, :] = 1  # row 0 only: the second mask is 0 % inside
    post = AIMSPostProcessor(test_cfg=dict(prompt_clip='inside'))
    result = post.predict(outputs, [_meta(ori_shape=(16, 16))],
                          [dict(part='part')], prompts)[0]['part']
    assert len(result) == 1 and result.masks[0].sum() == 4 * 16
    post = AIMSPostProcessor(test_cfg=dict(prompt_clip='none'))
    result = post.predict(outputs, [_meta(ori_shape=(16, 16))],
                          [dict(part='part')], prompts)[0]['part']
    assert len(result) == 2


def test_nonoverlap_mode():
    masks = torch.stack([
        _cols(0, 1),  # lower score
        _cols(1, 2),  # higher score, wins column 1
        _cols(2),  # fully covered by a better mask: dropped
    ])
    outputs = dict(entity=_outputs(masks, [1.0, 3.0, 0.0]))
    post = AIMSPostProcessor(test_cfg=dict(nonoverlap=dict(entity=True)))
    result = post.predict(outputs, [_meta(ori_shape=(16, 16))],
                          [dict(entity='entity')], torch.ones(1, 1, 16, 16))[0]
    ent = result['entity']
    assert len(ent) == 2
    assert ent.scores[0] > ent.scores[1]
    total = ent.masks.sum(0)
    assert total.max() == 1
    assert ent.masks[0, :, 4:12].all() and ent.masks[0].sum() == 16 * 8
    assert ent.masks[1, :, :4].all() and ent.masks[1].sum() == 16 * 4
    # the same config without nonoverlap keeps the overlaps
    post = AIMSPostProcessor(test_cfg=dict(nonoverlap=dict(part=True)))
    result = post.predict(outputs, [_meta(ori_shape=(16, 16))],
                          [dict(entity='entity')], torch.ones(1, 1, 16, 16))[0]
    assert len(result['entity']) == 3


def _two_levels():
    entities = torch.stack([_rows(0, 1), _rows(3)])
    parts = torch.stack([_rows(0), _rows(3), _rows(1)])
    return dict(
        entity=_outputs(entities, [2.0, 1.0]),
        part=_outputs(parts, [2.0, 1.5, 1.0]))


def test_links_from_association_scores():
    outputs = _two_levels()
    assoc = torch.full((1, 2, 3), 0.1)
    assoc[0, 0, 0] = assoc[0, 0, 2] = 0.9
    assoc[0, 1, 1] = 0.8
    post = AIMSPostProcessor(
        test_cfg=dict(link_score_thr=0.5, link_with_mask_scores=False))
    result = post.predict(
        outputs, [_meta(ori_shape=(16, 16))],
        [dict(entity='entity', part='part')],
        torch.ones(1, 1, 16, 16),
        assoc_scores=dict(entity_part=assoc),
        pairs=[('entity_part', 'entity', 'part')])[0]
    links = result['entity_part']
    ent, part = result['entity'], result['part']
    # identify the rows by their first covered pixel row (at ori 16 x 16:
    # entity 0 -> 0, entity 1 -> 12; part 0 -> 0, part 1 -> 12, part 2 -> 4)
    ent_row = ent.masks.flatten(1).float().argmax(1) // 16
    part_row = part.masks.flatten(1).float().argmax(1) // 16
    pairs = {
        (int(ent_row[p]), int(part_row[c]), round(s, 3))
        for p, c, s in zip(links.parent_index.tolist(),
                           links.child_index.tolist(), links.scores.tolist())
    }
    assert pairs == {(0, 0, 0.9), (0, 4, 0.9), (12, 12, 0.8)}
    assert links.scores[0] >= links.scores[-1]


def test_links_from_overlap_without_association_head():
    outputs = _two_levels()
    post = AIMSPostProcessor(test_cfg=dict(link_with_mask_scores=False))
    result = post.predict(
        outputs, [_meta(ori_shape=(16, 16))],
        [dict(entity='entity', part='part')],
        torch.ones(1, 1, 16, 16),
        pairs=[('entity_part', 'entity', 'part')])[0]
    links = result['entity_part']
    # each part lies fully in exactly one entity
    assert len(links) == 3
    assert torch.allclose(links.scores, torch.ones(3))
    ent, part = result['entity'], result['part']
    for p, c in zip(links.parent_index, links.child_index):
        assert not (part.masks[c] & ~ent.masks[p]).any()


def test_no_links_when_a_level_is_not_output():
    outputs = _two_levels()
    post = AIMSPostProcessor()
    result = post.predict(
        outputs, [_meta()], [dict(part='part')],
        torch.ones(1, 1, 16, 16),
        pairs=[('entity_part', 'entity', 'part')])[0]
    assert set(result) == {'part'}


def test_prompt_clip_entities_cuts_to_the_sample_region():
    """``'entities'`` cuts to the sample's ``prompt_clip_region`` (the
    detector computes it) instead of the prompt; a prompted sample without
    one is an error, a one-step sample (full-image prompt) needs none."""
    from mmengine.structures import PixelData
    masks = torch.stack([_rows(0, 1, 2, 3)])
    outputs = dict(part=_outputs(masks, [3.0]))
    prompts = torch.zeros(1, 1, 16, 16)
    prompts[..., :4, :] = 1
    sample = _meta(ori_shape=(16, 16))
    region = torch.zeros(1, 16, 16, dtype=torch.uint8)
    region[:, :12, :8] = 1
    sample.prompt_clip_region = PixelData(data=region)
    post = AIMSPostProcessor(test_cfg=dict(prompt_clip='entities'))
    mask = post.predict(outputs, [sample], [dict(part='part')],
                        prompts)[0]['part'].masks[0]
    assert torch.equal(mask, region[0].bool())
    with pytest.raises(ValueError, match="image 3: prompt_clip='entities'"):
        post.predict(outputs, [_meta(ori_shape=(16, 16))],
                     [dict(part='part')], prompts)
    whole = post.predict(outputs, [_meta(ori_shape=(16, 16))],
                         [dict(part='part')], torch.ones(1, 1, 16, 16))
    assert whole[0]['part'].masks[0].all()
