# Copyright (c) mmaims contributors. All rights reserved.
"""CropFormer's crop-ensemble merge on hand-made probability maps."""
import pytest
import torch

from mmaims.models.utils import fuse_crop_probs, merge_crop_predictions

H, W = 8, 12
# the four 6 x 9 corner crops of an 8 x 12 image (crop ratio 0.75)
CORNER_BOXES = [(0, 0, 9, 6), (3, 0, 12, 6), (0, 2, 9, 8), (3, 2, 12, 8)]


def _region(y0, y1, x0, x1, value=1.0, shape=(H, W)):
    m = torch.zeros(shape)
    m[y0:y1, x0:x1] = value
    return m


def _crop_view(window_map, box, factor=2):
    """A crop's prediction at its (larger) view size: the window's map
    upsampled by ``factor`` (blockwise constant, so the bilinear resize
    back to the window is exact)."""
    x0, y0, x1, y1 = box
    crop = window_map[..., y0:y1, x0:x1]
    return crop.repeat_interleave(factor, -2).repeat_interleave(factor, -1)


def test_fuse_averages_over_the_views_covering_each_pixel():
    full = torch.full((1, H, W), 0.2)
    boxes = [(0, 0, 5, 4), (3, 0, 8, 4)]  # overlap: rows 0-3, cols 3-4
    crops = [torch.full((1, 8, 10), 0.8), torch.full((1, 4, 5), 0.5)]
    fused = fuse_crop_probs(full, crops, boxes)[0]
    expected = torch.full((H, W), 0.2)
    expected[0:4, 0:3] = (0.2 + 0.8) / 2
    expected[0:4, 3:5] = (0.2 + 0.8 + 0.5) / 3
    expected[0:4, 5:8] = (0.2 + 0.5) / 2
    torch.testing.assert_close(fused, expected)
    # a crop predicted at twice its window size comes back to its window
    pattern = torch.rand(1, H, W)
    fused = fuse_crop_probs(
        torch.zeros(1, H, W), [_crop_view(pattern, CORNER_BOXES[3])],
        torch.tensor([CORNER_BOXES[3]]))
    x0, y0, x1, y1 = CORNER_BOXES[3]
    torch.testing.assert_close(fused[0, y0:y1, x0:x1],
                               pattern[0, y0:y1, x0:x1] / 2)
    assert fused[0, :y0].abs().sum() == 0 and fused[0, :, :x0].sum() == 0


def test_fuse_without_the_full_view_averages_the_crops_only():
    full = torch.full((1, H, W), 0.2)  # ignored but for the output size
    crops = [
        torch.full((1, 6, 9), p) for p in (0.1, 0.3, 0.5, 0.7)
    ]  # the four corners, at their window size
    fused = fuse_crop_probs(full, crops, CORNER_BOXES, use_full=False)[0]
    # rows 0-1 / 6-7 and cols 0-2 / 9-11 are in one or two crops; the
    # centre (rows 2-5, cols 3-8) in all four
    assert fused[0, 0].item() == pytest.approx(0.1)
    assert fused[0, 11].item() == pytest.approx(0.3)
    assert fused[7, 0].item() == pytest.approx(0.5)
    assert fused[7, 11].item() == pytest.approx(0.7)
    assert fused[0, 5].item() == pytest.approx((0.1 + 0.3) / 2)
    assert fused[4, 5].item() == pytest.approx((0.1 + 0.3 + 0.5 + 0.7) / 4)
    with_full = fuse_crop_probs(full, crops, CORNER_BOXES)[0]
    assert with_full[0, 0].item() == pytest.approx((0.2 + 0.1) / 2)
    # Batch-C needs crops that cover the image: two corners do not
    with pytest.raises(ValueError, match='in no crop'):
        fuse_crop_probs(full, crops[:2], CORNER_BOXES[:2], use_full=False)
    merged = merge_crop_predictions(
        full, crops, CORNER_BOXES, torch.tensor([0.9]), use_full=False)
    # > 0.5 only in rows 6-7 from col 3 on: (0.5 + 0.7) / 2 = 0.6, and 0.7
    # from col 9; rows 2-5 of cols 9-11 average (0.3 + 0.7) / 2 = 0.5
    expected = torch.zeros(H, W, dtype=torch.bool)
    expected[6:, 3:] = True
    torch.testing.assert_close(merged.masks[0], expected)


def test_a_mask_split_across_crops_comes_back_whole():
    entity = _region(2, 6, 2, 10)  # spans all four crops, in none whole
    # the full view alone is unsure (0.4 < 0.5): it would lose the entity
    full = (entity * 0.4)[None]
    crops = []
    for box in CORNER_BOXES:
        x0, y0, x1, y1 = box
        # each crop sees only its own piece of the entity, confidently
        piece = entity * _region(y0, y1, x0, x1) * 0.9
        crops.append(_crop_view(piece[None], box))
    scores = torch.tensor([0.8])
    alone = merge_crop_predictions(full, [], [], scores)
    assert len(alone) == 0
    merged = merge_crop_predictions(full, crops, CORNER_BOXES, scores)
    assert len(merged) == 1
    torch.testing.assert_close(merged.masks[0], entity.bool())
    assert merged.bboxes[0].tolist() == [2.0, 2.0, 10.0, 6.0]
    assert merged.scores.tolist() == pytest.approx([0.8])
    assert merged.query_index.tolist() == [0]
    assert merged.labels.tolist() == [0]


def test_nonoverlap_leaves_no_pixel_in_two_masks():
    left = _region(0, H, 0, 8, 0.9)  # query 0, entityness 0.6
    right = _region(0, H, 4, W, 0.9)  # query 1, entityness 0.9
    inner = _region(2, 6, 5, 7, 0.9)  # query 2, inside right, 0.3
    tie = _region(0, 2, 0, 2, 0.9)  # query 3, ties with query 4
    tie_b = _region(0, 2, 0, 2, 0.9)  # query 4
    full = torch.stack([left, right, inner, tie, tie_b])
    crops = [_crop_view(full, box) for box in CORNER_BOXES]
    scores = torch.tensor([0.6, 0.9, 0.3, 0.95, 0.95])
    out = merge_crop_predictions(full, crops, CORNER_BOXES, scores)
    assert (out.masks.sum(0) <= 1).all()
    # ranked by entityness; the tie goes to the lower query; the mask
    # covered by a better one is dropped
    assert out.query_index.tolist() == [3, 1, 0]
    assert out.scores.tolist() == pytest.approx([0.95, 0.9, 0.6])
    torch.testing.assert_close(out.masks[0], tie.bool())
    torch.testing.assert_close(out.masks[1], right.bool())
    torch.testing.assert_close(out.masks[2],
                               (left.bool() & ~right.bool() & ~tie.bool()))
    # without the rule the masks overlap and every query stays
    free = merge_crop_predictions(
        full, crops, CORNER_BOXES, scores, nonoverlap=False)
    assert free.query_index.tolist() == [3, 4, 1, 0, 2]
    assert (free.masks.sum(0) > 1).any()


def test_rescore_by_mean_probability_over_kept_pixels():
    first = _region(0, H, 0, 6, 0.9)  # query 0
    second = _region(0, H, 3, W, 0.7)  # query 1, loses cols 3-5
    second[:, 9:] = 0.6
    full = torch.stack([first, second])
    scores = torch.tensor([0.5, 0.4])
    plain = merge_crop_predictions(full, [], [], scores)
    assert plain.scores.tolist() == pytest.approx([0.5, 0.4])
    rescored = merge_crop_predictions(full, [], [], scores, rescore=True)
    # query 1 keeps cols 6-11: 3 columns at 0.7, 3 at 0.6
    assert rescored.query_index.tolist() == [0, 1]
    assert rescored.scores.tolist() == pytest.approx(
        [0.5 * 0.9, 0.4 * (0.7 + 0.6) / 2])
    # the masks are those of the entityness ranking either way
    torch.testing.assert_close(rescored.masks, plain.masks)
    # re-scoring can reorder: query 1 had the lower entityness
    full = torch.stack([_region(0, H, 0, 6, 0.55), _region(0, H, 6, W, 1.)])
    out = merge_crop_predictions(
        full, [], [], torch.tensor([0.5, 0.4]), rescore=True)
    assert out.query_index.tolist() == [1, 0]
    assert out.scores.tolist() == pytest.approx([0.4, 0.5 * 0.55])


def test_selection_thresholds_and_bad_input():
    full = torch.stack([
        _region(0, 4, 0, 4, 0.9),
        _region(4, 8, 0, 4, 0.9),
        _region(0, 4, 6, 10, 0.9)
    ])
    scores = torch.tensor([0.2, 0.7, 0.5])
    top2 = merge_crop_predictions(full, [], [], scores, max_per_image=2)
    assert top2.query_index.tolist() == [1, 2]
    kept = merge_crop_predictions(full, [], [], scores, score_thr=0.3)
    assert kept.query_index.tolist() == [1, 2]
    empty = merge_crop_predictions(
        torch.zeros(0, H, W), [torch.zeros(0, 6, 9)], [CORNER_BOXES[0]],
        torch.zeros(0))
    assert empty.masks.shape == (0, H, W) and len(empty.scores) == 0

    with pytest.raises(ValueError, match='not logits'):
        fuse_crop_probs(full * 10 - 5, [], [])
    with pytest.raises(ValueError, match='same entities'):
        fuse_crop_probs(full, [torch.zeros(2, 6, 9)], [CORNER_BOXES[0]])
    with pytest.raises(ValueError, match='crop boxes'):
        fuse_crop_probs(full, [torch.zeros(3, 6, 9)], [])
    with pytest.raises(ValueError, match='non-empty window'):
        fuse_crop_probs(full, [torch.zeros(3, 6, 9)], [(4, 0, 13, 6)])
    with pytest.raises(ValueError, match='scores'):
        merge_crop_predictions(full, [], [], torch.zeros(2))
