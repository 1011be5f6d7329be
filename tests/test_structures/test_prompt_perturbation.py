# Copyright (c) mmaims contributors. All rights reserved.
"""Rough prompts on hand-made masks: each perturbation's result, never
empty, the same under a seed; boxes as prompts."""
import numpy as np
import pytest

from mmaims.structures.prompt_geometry import (BoxPrompt, box_to_mask,
                                               fit_prompt)
from mmaims.structures.prompt_perturbation import (PERTURBATIONS,
                                                   perturb_prompt,
                                                   perturbation_tag)


def _mask():
    """An L shape: a 10 x 6 bar and a 4 x 6 foot, in a 20 x 20 image."""
    mask = np.zeros((20, 20), dtype=bool)
    mask[4:14, 3:9] = True
    mask[10:14, 9:15] = True
    return mask


def test_exact_and_box():
    mask = _mask()
    np.testing.assert_array_equal(perturb_prompt(mask), mask)
    box = perturb_prompt(mask, 'box')
    expected = np.zeros_like(mask)
    expected[4:14, 3:15] = True
    np.testing.assert_array_equal(box, expected)


def test_dilate_and_erode():
    mask = _mask()
    grown = perturb_prompt(mask, dict(type='dilate', k=1))
    assert (grown & mask).sum() == mask.sum()
    assert grown[3, 2] and grown[14, 15] and not grown[2, 2]
    shrunk = perturb_prompt(mask, dict(type='erode', k=1))
    assert not (shrunk & ~mask).any()
    # bar 8 x 4, the corner column where bar and foot meet 2 x 1, foot 2 x 5
    assert shrunk.sum() == 8 * 4 + 2 * 1 + 2 * 5
    # an erosion that would empty the mask keeps the largest that does not
    thin = np.zeros((20, 20), dtype=bool)
    thin[5:8, 2:18] = True
    out = perturb_prompt(thin, dict(type='erode', k=3))
    assert out.any() and out.sum() == 14  # k=1: the middle row minus ends


def test_polygon_and_strokes():
    mask = _mask()
    # a polygon of an L with straight edges is the L again (to a pixel of
    # contour rasterisation)
    lasso = perturb_prompt(mask, dict(type='polygon', tolerance=1.0))
    assert (lasso ^ mask).sum() <= 4
    strokes = perturb_prompt(mask, dict(type='strokes', num=2, width=1),
                             seed=3)
    assert strokes.any() and not (strokes & ~mask).any()
    assert strokes.sum() < mask.sum()
    again = perturb_prompt(mask, dict(type='strokes', num=2, width=1),
                           seed=3)
    np.testing.assert_array_equal(strokes, again)
    other = perturb_prompt(mask, dict(type='strokes', num=2, width=1),
                           seed=4)
    assert not np.array_equal(strokes, other)


@pytest.mark.parametrize('kind', sorted(PERTURBATIONS))
def test_never_empty_on_a_single_pixel(kind):
    mask = np.zeros((9, 9), dtype=bool)
    mask[4, 4] = True
    out = perturb_prompt(mask, kind, seed=0)
    assert out.any() and out.shape == mask.shape


def test_tags_and_errors():
    assert perturbation_tag(None) == ''
    assert perturbation_tag('box') == 'box'
    assert perturbation_tag(dict(type='dilate', k=3)) == 'dilate3'
    assert perturbation_tag('erode') == 'erode2'
    assert perturbation_tag(dict(type='polygon', tolerance=2.5)) == \
        'polygon2.5'
    with pytest.raises(ValueError, match="unknown prompt perturbation 'x'"):
        perturb_prompt(_mask(), 'x')
    with pytest.raises(ValueError, match='takes.*got.*radius'):
        perturb_prompt(_mask(), dict(type='dilate', radius=2))
    with pytest.raises(ValueError, match='non-empty'):
        perturb_prompt(np.zeros((4, 4), bool), 'box')


def test_box_prompt_rasterisation():
    mask = box_to_mask(BoxPrompt(2.5, 1, 6, 3.2), (8, 10))
    expected = np.zeros((8, 10), dtype=bool)
    expected[1:4, 2:6] = True
    np.testing.assert_array_equal(mask, expected)
    # clipped to the image; through fit_prompt like any prompt
    np.testing.assert_array_equal(
        fit_prompt(BoxPrompt(-5, -5, 3, 2), (8, 10), 'x'),
        box_to_mask(BoxPrompt(0, 0, 3, 2), (8, 10)))
    with pytest.raises(ValueError, match='x1 < x2'):
        box_to_mask(BoxPrompt(5, 1, 5, 3), (8, 10))
    with pytest.raises(ValueError, match='outside the image'):
        box_to_mask(BoxPrompt(20, 1, 30, 3), (8, 10))


def test_snap_prompt_takes_the_candidate_a_rough_prompt_matches_best():
    """Each rough prompt of the L shape snaps back to it among three
    candidates (the L, its neighbour, the whole image); a prompt that
    overlaps nothing is kept."""
    import torch

    from mmaims.structures.prompt_geometry import snap_prompt
    exact = _mask()
    neighbour = np.zeros_like(exact)
    neighbour[0:4, 10:20] = True
    candidates = torch.from_numpy(
        np.stack([neighbour, np.ones_like(exact), exact]))
    for kind in ('exact', 'box', dict(type='dilate', k=1),
                 dict(type='erode', k=1), dict(type='polygon', tolerance=2),
                 dict(type='strokes', num=3, width=2)):
        rough = perturb_prompt(exact, kind, seed=0)
        snapped, iou = snap_prompt(rough, candidates)
        assert torch.equal(snapped, torch.from_numpy(exact)), kind
        inter = (rough & exact).sum()
        assert iou == pytest.approx(inter / (rough | exact).sum())
    # candidates at twice the prompt's size are resized to it
    big = candidates.repeat_interleave(2, 1).repeat_interleave(2, 2)
    snapped, _ = snap_prompt(perturb_prompt(exact, 'box'), big)
    assert torch.equal(snapped, torch.from_numpy(exact))
    # nothing overlaps: the prompt is kept, with no IoU
    far = np.zeros_like(exact)
    far[16:20, 0:3] = True
    snapped, iou = snap_prompt(far, candidates[[0, 2]])
    assert iou is None and torch.equal(snapped, torch.from_numpy(far))
    snapped, iou = snap_prompt(far, candidates[:0])
    assert iou is None and torch.equal(snapped, torch.from_numpy(far))
    with pytest.raises(ValueError, match='img 3: the prompt is empty'):
        snap_prompt(np.zeros_like(exact), candidates, 'img 3')


def _table_and_floor():
    """A 24 x 24 image: a table (an 8 px top, rows 2-9, and a 3 px leg,
    rows 10-19) standing on a floor (rows 20-23)."""
    table = np.zeros((24, 24), dtype=bool)
    table[2:10, 4:20] = True
    table[10:20, 6:9] = True
    floor = np.zeros_like(table)
    floor[20:, :] = True
    return table, floor


def test_entity_clip_region_gives_back_what_an_eroded_prompt_missed():
    """A 3 px erosion removes the table's leg; grown back by 3 px it is
    the top only. The region adds the one-step table (mostly inside the
    grown prompt) and not the floor (outside it); a lower-scored mask
    over both adds nothing (the entities are made non-overlapping
    first)."""
    import torch

    from mmaims.structures.prompt_geometry import entity_clip_region
    table, floor = _table_and_floor()
    eroded = perturb_prompt(table, dict(type='erode', k=3))
    assert not eroded[10:20].any()
    entities = torch.from_numpy(np.stack([table, floor, table | floor]))
    region = entity_clip_region(eroded, entities, 3)
    assert region.dtype == torch.bool
    np.testing.assert_array_equal(region.numpy(), table)
    # the grown prompt alone: the top
    grown = entity_clip_region(eroded, entities[:0], 3)
    np.testing.assert_array_equal(grown.numpy()[:10], table[:10])
    assert not grown[10:].any()
    # without a margin the eroded prompt holds too little of the table
    # (20 of its 158 pixels): the region is the prompt
    tight = entity_clip_region(eroded, entities, 0)
    np.testing.assert_array_equal(tight.numpy(), eroded)
    # a prompt covering all of the floor but 4 pixels takes it whole
    region = entity_clip_region(floor[None] & ~np.eye(24, dtype=bool)[None],
                                entities, 0)
    np.testing.assert_array_equal(region.numpy(), floor)
    # entities at twice the prompt's size are resized to it
    big = entities.repeat_interleave(2, 1).repeat_interleave(2, 2)
    np.testing.assert_array_equal(
        entity_clip_region(eroded, big, 3).numpy(), table)
    with pytest.raises(ValueError, match='img 7: the prompt is empty'):
        entity_clip_region(np.zeros_like(table), entities, 3, 'img 7')


def test_clip_children_modes():
    """The post-processor's cut, on the table and floor: children of a
    prompt over the table's top only (the leg and the floor outside it)."""
    import torch

    from mmaims.structures.prompt_geometry import clip_children
    table, floor = _table_and_floor()
    top = np.zeros_like(table)
    top[2:10, 4:20] = True
    children = torch.from_numpy(
        np.stack([table, floor, table | floor,
                  np.zeros_like(table)]))
    prompt = torch.from_numpy(top)

    def run(clip, margin=0):
        masks, kept = clip_children(children, prompt, clip, margin)
        return masks.numpy(), kept.tolist()

    masks, kept = run('hard')
    np.testing.assert_array_equal(masks[0], top)
    np.testing.assert_array_equal(masks[2], top)
    assert not masks[1].any() and not masks[3].any()
    # the floor is kept here (non-empty before the cut); the
    # post-processor drops masks left empty by their zero score
    assert kept == [True, True, True, False]
    masks, kept = run('margin', 2)
    expected = table & perturb_prompt(top, dict(type='dilate', k=2))
    np.testing.assert_array_equal(masks[0], expected)
    assert masks[0][10:12].any() and not masks[0][12:].any()
    # 'entities': the caller passes the region, cut as 'hard' cuts
    np.testing.assert_array_equal(run('entities')[0], run('hard')[0])
    masks, kept = run('inside')
    np.testing.assert_array_equal(masks, children.numpy())
    # inside the top: 128 of the table's 158 pixels and of the union's
    # 254 (just over half), none of the floor's
    assert kept == [True, False, True, False]
    masks, kept = run('none')
    np.testing.assert_array_equal(masks, children.numpy())
    assert kept == [True, True, True, False]
    with pytest.raises(ValueError, match="prompt_clip must be one of"):
        run('loose')
