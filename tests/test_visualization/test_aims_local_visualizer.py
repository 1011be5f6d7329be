# Copyright (c) mmaims contributors. All rights reserved.
import colorsys
import os.path as osp
from argparse import Namespace
from types import SimpleNamespace

import cv2
import numpy as np
import torch
from mmdet.engine.hooks.utils import trigger_visualization_hook
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.runner import load_checkpoint
from mmengine.structures import InstanceData, PixelData

from mmaims.registry import DATASETS, HOOKS, MODELS, VISUALIZERS
from mmaims.visualization import AIMSLocalVisualizer, level_colors

TESTS = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CONFIG = osp.join(TESTS, 'data', 'configs', 'aims_tiny.py')
H, W = 40, 60


def _box(y0, y1, x0, x1):
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def _instances(masks, scores):
    return InstanceData(
        masks=torch.from_numpy(np.stack(masks)),
        scores=torch.tensor(scores),
        labels=torch.zeros(len(masks), dtype=torch.long),
        bboxes=torch.zeros(len(masks), 4))


def _links(parents, children, scores):
    return InstanceData(
        parent_index=torch.tensor(parents),
        child_index=torch.tensor(children),
        scores=torch.tensor(scores))


def predicted_sample(with_links=True):
    sample = DetDataSample(
        metainfo=dict(img_id=0, ori_shape=(H, W), img_shape=(H, W)))
    sample.pred_part_instances = _instances(
        [_box(5, 15, 5, 15), _box(25, 35, 40, 55)], [0.9, 0.8])
    sample.pred_instances = _instances(
        [_box(5, 35, 5, 25), _box(20, 38, 35, 58)], [0.95, 0.2])
    sample.pred_relation_instances = _instances([_box(5, 38, 5, 58)], [0.7])
    if with_links:
        sample.pred_entity_part_links = _links([0, 1], [0, 1], [0.9, 0.9])
        sample.pred_relation_entity_links = _links([0], [0], [0.8])
    return sample


def visualizer(name, **kwargs):
    return AIMSLocalVisualizer(name=name, min_size=0, **kwargs)


def test_level_colors():
    for level in ('part', 'entity', 'relation'):
        colors = level_colors(level, 12)
        assert len(set(colors)) == 12
        assert level_colors(level, 3) == colors[:3]

    def hues(level):
        # degrees, in [0, 360); +-3 degrees of 8-bit rounding
        return [
            colorsys.rgb_to_hsv(*[c / 255 for c in rgb])[0] * 360
            for rgb in level_colors(level, 12)
        ]

    # parts green, entities blue, relations red to magenta
    assert all(67 <= h <= 163 for h in hues('part'))
    assert all(177 <= h <= 263 for h in hues('entity'))
    assert all(h >= 287 or h <= 43 for h in hues('relation'))


def test_add_datasample_panels_and_links(tmp_path):
    vis = visualizer('vis_panels')
    image = np.full((H, W, 3), 128, np.uint8)
    out_file = str(tmp_path / 'out.png')
    vis.add_datasample(
        'img',
        image,
        predicted_sample(),
        out_file=out_file,
        pred_score_thr=0.3)
    drawn = cv2.imread(out_file)[..., ::-1]
    # one panel per level: part | entity | relation
    assert drawn.shape == (H, 3 * W, 3)
    np.testing.assert_array_equal(vis.get_image(), drawn)
    part_px = drawn[30, 50].astype(int)  # second part, inside, no label
    entity_px = drawn[30, W + 10].astype(int)
    assert part_px[1] > part_px[2]  # green family
    assert entity_px[2] > entity_px[0]  # blue family
    # the entity of score 0.2 is not drawn (threshold 0.3)
    np.testing.assert_array_equal(drawn[36, W + 45], [128, 128, 128])

    vis.add_datasample(
        'img',
        image,
        predicted_sample(with_links=False),
        out_file=str(tmp_path / 'no_links.png'))
    plain = cv2.imread(str(tmp_path / 'no_links.png'))[..., ::-1]
    diff = np.abs(drawn.astype(int) - plain.astype(int)).sum(-1) > 0
    # the link part 0 -> entity 0 runs from (10, 10) to (W + 15, 20): it
    # crosses the panel border; the link of part 1 (its entity not drawn)
    # is left out, so nothing changes right of the first part panel's box
    assert diff[:, W - 3:W + 3].any()
    assert not diff[25:35, 40:55].any()


def test_draw_level_panels_and_levels_subset():
    vis = visualizer('vis_level_panels')
    image = np.zeros((H, W, 3), np.uint8)
    sample = predicted_sample()
    panels = vis.draw_level_panels(image, sample, pred_score_thr=0.0)
    assert list(panels) == ['part', 'entity', 'relation']
    assert all(p.shape == (H, W, 3) for p in panels.values())
    del sample.pred_relation_instances
    del sample.pred_relation_entity_links
    panels = vis.draw_level_panels(image, sample)
    assert list(panels) == ['part', 'entity']
    # small images are enlarged by an integer factor for readability
    big = AIMSLocalVisualizer(name='vis_big', min_size=100)
    assert big.draw_level_panels(image, sample)['part'].shape == (120, 180, 3)


def test_prompt_outline():
    vis = visualizer('vis_prompt')
    image = np.zeros((H, W, 3), np.uint8)
    sample = DetDataSample(
        metainfo=dict(
            img_id=0,
            ori_shape=(H, W),
            img_shape=(H, W),
            task=dict(prompt_type='one_entity', decoder='part')))
    sample.pred_part_instances = _instances([_box(12, 18, 12, 18)], [0.9])
    # stored at the padded network input, as predict_prompt does
    prompt = np.zeros((64, 64), np.uint8)
    prompt[10:30, 10:30] = 1
    sample.prompt_mask = PixelData(data=torch.from_numpy(prompt)[None])
    panel = vis.draw_level_panels(image, sample, 0.3)['part']
    yellow = (panel[..., 0] > 150) & (panel[..., 1] > 150) & \
        (panel[..., 2] < 100)
    ys, xs = np.nonzero(yellow)
    assert len(ys) and 8 <= ys.min() and ys.max() <= 31
    assert 8 <= xs.min() and xs.max() <= 31
    # a full-image prompt is not outlined
    sample.set_metainfo(dict(task=dict(prompt_type='full', decoder=None)))
    panel = vis.draw_level_panels(image, sample, 0.3)['part']
    assert not ((panel[..., 0] > 150) & (panel[..., 1] > 150) &
                (panel[..., 2] < 100)).any()


def test_ground_truth_row():
    vis = visualizer('vis_gt')
    image = np.zeros((H, W, 3), np.uint8)
    sample = predicted_sample()
    masks = np.stack([_box(5, 35, 5, 25)]).astype(np.uint8)
    # ground truth at img_shape (half size): drawn resized to the image
    half = masks[:, ::2, ::2]
    sample.gt_instances = InstanceData(
        masks=BitmapMasks(half, H // 2, W // 2),
        ann_ids=torch.tensor([7]),
        labels=torch.zeros(1, dtype=torch.long))
    sample.gt_part_instances = InstanceData(
        masks=BitmapMasks(half, H // 2, W // 2),
        ann_ids=torch.tensor([8]),
        labels=torch.zeros(1, dtype=torch.long),
        entity_index=torch.tensor([0]))
    vis.add_datasample('img', image, sample, draw_gt=True)
    drawn = vis.get_image()
    # gt row (part | entity) above the prediction row, padded to its width
    assert drawn.shape == (2 * H, 3 * W, 3)
    assert drawn[20, 15].any() and not drawn[20, 2 * W + 30].any()
    vis.add_datasample('img', image, sample, draw_gt=False)
    assert vis.get_image().shape == (H, 3 * W, 3)
    vis.add_datasample('img', image, None)
    np.testing.assert_array_equal(vis.get_image(), image)


def test_runtime_config_uses_aims_visualizer():
    cfg = Config.fromfile(TINY_CONFIG)
    assert cfg.visualizer.type == 'AIMSLocalVisualizer'
    built = VISUALIZERS.build(dict(cfg.visualizer, name='vis_from_cfg'))
    assert isinstance(built, AIMSLocalVisualizer)


def test_show_dir_hook(tiny_checkpoint, tmp_path):
    """What ``tools/test.py CONFIG CKPT --show-dir vis`` does: the config's
    visualizer and DetVisualizationHook, a sample of the real test pipeline
    predicted by the tiny model."""
    from mmaims.datasets.synthetic import make_synthetic_dataset
    root = str(tmp_path / 'data')
    make_synthetic_dataset(root, num_images=1, num_val=1, seed=0, size=64)
    cfg = Config.fromfile(TINY_CONFIG)
    cfg = trigger_visualization_hook(
        cfg, Namespace(show=False, show_dir='vis', wait_time=0))
    VISUALIZERS.build(dict(cfg.visualizer, name='vis_show_dir'))
    hook = HOOKS.build(cfg.default_hooks.visualization)

    dataset_cfg = cfg.test_dataloader.dataset
    dataset_cfg.update(data_root=root + '/')
    dataset = DATASETS.build(dataset_cfg)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, tiny_checkpoint, map_location='cpu')
    model.eval()
    data = pseudo_collate([dataset[0]])
    with torch.no_grad():
        outputs = model.test_step(data)
    runner = SimpleNamespace(work_dir=str(tmp_path / 'work'), timestamp='ts')
    hook.after_test_iter(runner, 0, data, outputs)

    img_path = outputs[0].img_path
    out_file = tmp_path / 'work' / 'ts' / 'vis' / osp.basename(img_path)
    assert out_file.is_file()
    drawn = cv2.imread(str(out_file))
    # enlarged 4x (min_size 256); ground-truth row over the prediction row;
    # the val image annotates part and entity (toy_ppp) or entity and
    # relation (toy_psg), predictions have the three levels
    assert drawn.shape == (2 * 256, 3 * 256, 3)
    assert not np.array_equal(drawn[:256], drawn[256:])
