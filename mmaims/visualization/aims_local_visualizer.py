# Copyright (c) mmaims contributors. All rights reserved.
import colorsys
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import mmcv
import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks, bitmap_to_polygon
from mmdet.visualization import DetLocalVisualizer
from mmdet.visualization.palette import _get_adaptive_scales
from mmengine.dist import master_only
from mmengine.structures import InstanceData

from mmaims.registry import VISUALIZERS
from mmaims.structures import ENTITY, LEVELS, PART, RELATION
from mmaims.structures.fields import GT_FIELDS, LINK_TYPES, PRED_FIELDS

#: hue range (degrees) of each level's colour family
LEVEL_HUES = {PART: (70., 160.), ENTITY: (180., 260.), RELATION: (290., 400.)}

Color = Tuple[int, int, int]


def level_colors(level: str, num: int) -> List[Color]:
    """``num`` distinct RGB colours from the colour family of a level.

    Parts are green, entities blue, relations red to magenta, so a mask's
    level is visible from its colour in any picture. Colour ``i`` is the
    same for any ``num``.

    Args:
        level (str): ``'part'``, ``'entity'`` or ``'relation'``.
        num (int): Number of colours.

    Returns:
        list[tuple[int, int, int]]: RGB colours.
    """
    lo, hi = LEVEL_HUES[level]
    colors = []
    for i in range(num):
        # golden-ratio steps spread any number of hues over the range
        hue = (lo + (hi - lo) * ((i * 0.618034) % 1.0)) % 360.
        sat = 0.85 - 0.25 * ((i * 0.381966) % 1.0)
        val = 0.95 - 0.2 * ((i * 0.5) % 1.0)
        r, g, b = colorsys.hsv_to_rgb(hue / 360., sat, val)
        colors.append((int(r * 255), int(g * 255), int(b * 255)))
    return colors


def _masks_numpy(masks, shape: Tuple[int, int]) -> np.ndarray:
    """``N x H x W`` bool masks at ``shape`` from any mask container."""
    if isinstance(masks, BitmapMasks):
        masks = masks.to_ndarray()
    elif hasattr(masks, 'to_ndarray'):  # PolygonMasks
        masks = masks.to_ndarray()
    elif isinstance(masks, torch.Tensor):
        masks = masks.detach().cpu().numpy()
    masks = np.asarray(masks).astype(bool)
    h, w = shape
    if masks.shape[1:] != (h, w):
        # ground truth of test pipelines that load annotations before the
        # resize is at img_shape, the image drawn is the original
        masks = np.stack([
            cv2.resize(
                m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
            for m in masks
        ]).astype(bool) if len(masks) else np.zeros((0, h, w), bool)
    return masks


def mask_centroid(mask: np.ndarray) -> Optional[np.ndarray]:
    """Centroid ``(x, y)`` of the largest connected component, or None."""
    _, _, stats, centroids = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8)
    if stats.shape[0] < 2:
        return None
    return centroids[np.argmax(stats[1:, -1]) + 1]


@VISUALIZERS.register_module()
class AIMSLocalVisualizer(DetLocalVisualizer):
    """Visualizer of the three AIMS levels and their links.

    :meth:`add_datasample` draws one panel per level (part | entity |
    relation, left to right), each mask in its own colour from the level's
    colour family (:func:`level_colors`) with its id and score, and links
    as lines between the mask centroids of adjacent panels (each child to
    its best-scoring shown parent, so every part has one whole and every
    relation its two entities). A prompt (any ``prompt_mask`` of a sample
    whose ``task['prompt_type']`` is not ``'full'``) is outlined in yellow
    in every panel. With ``draw_gt`` the ground truth of the sample is
    drawn the same way in a row above the predictions.

    Mask labels are the ids of the prediction file
    (:func:`mmaims.structures.samples_to_predictions` with ``start_id=1``),
    so a picture and its JSON can be read together.

    It works where mmdet's visualizer does: the ``DetVisualizationHook``
    of ``tools/test.py --show-dir`` and the inferencer.

    Args:
        name (str): Name of the instance. Defaults to 'visualizer'.
        image (np.ndarray, optional): The image to draw (RGB).
        vis_backends (list, optional): Visual backend configs.
        save_dir (str, optional): Save directory of the backends.
        line_width (int | float): Width of link lines and prompt outlines.
            Defaults to 2.
        alpha (float): Opacity of the masks. Defaults to 0.6.
        prompt_color (str | tuple): Colour of the prompt outline. Defaults
            to 'yellow'.
        min_size (int): Images whose shorter side is smaller are enlarged
            by an integer factor (nearest neighbour) before drawing, so that
            labels stay readable on small images. 0 disables it. Defaults
            to 256.
        **kwargs: Other arguments of :class:`DetLocalVisualizer`.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[List[dict]] = None,
                 save_dir: Optional[str] = None,
                 line_width: Union[int, float] = 2,
                 alpha: float = 0.6,
                 prompt_color: Union[str, tuple] = 'yellow',
                 min_size: int = 256,
                 **kwargs) -> None:
        super().__init__(
            name=name,
            image=image,
            vis_backends=vis_backends,
            save_dir=save_dir,
            line_width=line_width,
            alpha=alpha,
            **kwargs)
        self.prompt_color = prompt_color
        self.min_size = min_size

    def _enlarge(self, image: np.ndarray) -> np.ndarray:
        """The image enlarged by an integer factor up to ``min_size``."""
        short = min(image.shape[:2])
        if not self.min_size or short >= self.min_size:
            return image
        factor = -(-self.min_size // short)
        return cv2.resize(
            image, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)

    # ------------------------------------------------------------------
    # single panels
    # ------------------------------------------------------------------
    def draw_level(self,
                   image: np.ndarray,
                   masks: np.ndarray,
                   level: str,
                   labels: Optional[Sequence[str]] = None,
                   title: Optional[str] = None,
                   prompt: Optional[np.ndarray] = None) -> np.ndarray:
        """Draw the masks of one level on an image.

        Args:
            image (np.ndarray): RGB image ``H x W x 3``.
            masks (np.ndarray): ``N x H x W`` bool masks.
            level (str): Level, for the colours.
            labels (Sequence[str], optional): Text at each mask's centroid.
            title (str, optional): Text at the top-left corner.
            prompt (np.ndarray, optional): ``H x W`` bool prompt to outline.

        Returns:
            np.ndarray: The drawn RGB image.
        """
        self.set_image(image)
        if len(masks):
            colors = level_colors(level, len(masks))
            polygons = []
            for mask in masks:
                contours, _ = bitmap_to_polygon(mask)
                polygons.extend(contours)
            self.draw_binary_masks(masks, colors=colors, alphas=self.alpha)
            if polygons:
                self.draw_polygons(
                    polygons, edge_colors='w', alpha=0.8, line_widths=1)
        if prompt is not None and prompt.any():
            contours, _ = bitmap_to_polygon(prompt)
            if contours:
                self.draw_polygons(
                    contours,
                    edge_colors=self.prompt_color,
                    line_widths=self.line_width)
        if labels is not None and len(masks):
            centroids = [mask_centroid(m) for m in masks]
            areas = np.array([max(int(m.sum()), 1) for m in masks])
            scales = _get_adaptive_scales(areas)
            for label, pos, scale in zip(labels, centroids, scales):
                if pos is None:
                    continue
                self.draw_texts(
                    label,
                    pos,
                    colors=(255, 255, 255),
                    font_sizes=max(int(10 * scale), 6),
                    horizontal_alignments='center',
                    vertical_alignments='center',
                    bboxes=[{
                        'facecolor': 'black',
                        'alpha': 0.6,
                        'pad': 0.3,
                        'edgecolor': 'none'
                    }])
        if title:
            self.draw_texts(
                title,
                np.array([2, 2]),
                colors=(255, 255, 255),
                font_sizes=max(min(image.shape[:2]) // 18, 7),
                bboxes=[{
                    'facecolor': 'black',
                    'alpha': 0.8,
                    'pad': 0.5,
                    'edgecolor': 'none'
                }])
        return self.get_image()

    def draw_level_panels(self,
                          image: np.ndarray,
                          data_sample: DetDataSample,
                          pred_score_thr: float = 0.3,
                          gt: bool = False) -> Dict[str, np.ndarray]:
        """One drawn panel per level present in a sample.

        Args:
            image (np.ndarray): RGB image at the original size (small
                images are enlarged, see ``min_size``).
            data_sample (DetDataSample): Predicted (or ground-truth) sample.
            pred_score_thr (float): Predicted masks with a score <= this
                are not drawn.
            gt (bool): Draw the ground truth instead of the predictions.

        Returns:
            dict[str, np.ndarray]: Level -> drawn RGB image, for the levels
            whose field the sample has, in the order part, entity, relation.
        """
        image = image.clip(0, 255).astype(np.uint8)
        panels, _ = self._draw_row(image, data_sample.cpu(), pred_score_thr,
                                   gt)
        return panels

    # ------------------------------------------------------------------
    # a row of panels with links
    # ------------------------------------------------------------------
    def _level_items(self, data_sample: DetDataSample, shape: Tuple[int, int],
                     score_thr: float, gt: bool) -> Dict[str, dict]:
        """Per level present: shown masks, their labels, their sample rows
        (and prediction-file ids)."""
        items = {}
        next_id = 1
        fields = GT_FIELDS if gt else PRED_FIELDS
        for level in LEVELS:
            field = fields[level]
            if field not in data_sample:
                continue
            inst: InstanceData = data_sample.get(field)
            num = len(inst) if 'masks' in inst else 0
            ids = np.arange(next_id, next_id + num)
            next_id += num
            if num == 0:
                items[level] = dict(
                    masks=np.zeros((0, *shape), bool),
                    rows=np.zeros(0, np.int64),
                    labels=[])
                continue
            if gt:
                keep = np.ones(num, bool)
                ann_ids = inst.get('ann_ids')
                names = ([str(int(a)) for a in ann_ids] if ann_ids is not None
                         else [str(i) for i in range(num)])
            else:
                scores = inst.scores.detach().cpu().numpy().reshape(-1)
                keep = scores > score_thr
                names = [f'{i}: {s:.2f}' for i, s in zip(ids, scores)]
            rows = np.flatnonzero(keep)
            masks = _masks_numpy(inst.masks, shape)[rows]
            items[level] = dict(
                masks=masks,
                rows=rows,
                labels=[names[r] for r in rows],
                scores=None if gt else scores[rows])
        return items

    def _links(self, data_sample: DetDataSample, items: Dict[str, dict],
               gt: bool) -> List[Tuple[str, int, str, int]]:
        """(child level, child index, parent level, parent index) into the
        shown masks: each child's best parent (relations: best two)."""
        out = []
        if gt:
            for child, parent in ((PART, ENTITY), (RELATION, ENTITY)):
                if child not in items or parent not in items:
                    continue
                inst = data_sample.get(GT_FIELDS[child])
                index = inst.get('entity_index')
                if index is None or len(inst) == 0:
                    continue
                index = index.detach().cpu().numpy().reshape(len(inst), -1)
                pos_child = {r: i for i, r in enumerate(items[child]['rows'])}
                pos_parent = {
                    r: i
                    for i, r in enumerate(items[parent]['rows'])
                }
                for row, entity_rows in enumerate(index):
                    for entity_row in entity_rows:
                        if row in pos_child and entity_row in pos_parent:
                            # relation -> entity is drawn from the relation
                            # panel to the entity panel like predictions
                            if child == RELATION:
                                out.append((ENTITY, pos_parent[entity_row],
                                            RELATION, pos_child[row]))
                            else:
                                out.append((PART, pos_child[row], ENTITY,
                                            pos_parent[entity_row]))
            return out
        for child, parent, field in ((t.child, t.parent, t.field)
                                     for t in LINK_TYPES):
            if child not in items or parent not in items or \
                    field not in data_sample:
                continue
            links = data_sample.get(field)
            if len(links) == 0:
                continue
            parents = links.parent_index.detach().cpu().numpy().reshape(-1)
            children = links.child_index.detach().cpu().numpy().reshape(-1)
            scores = links.scores.detach().cpu().numpy().reshape(-1)
            pos_child = {r: i for i, r in enumerate(items[child]['rows'])}
            pos_parent = {r: i for i, r in enumerate(items[parent]['rows'])}
            taken: Dict[int, int] = {}
            for k in np.argsort(-scores, kind='stable'):
                p, c = int(parents[k]), int(children[k])
                if p not in pos_parent or c not in pos_child:
                    continue
                if child == PART:
                    if taken.get(c, 0) >= 1:
                        continue
                    taken[c] = 1
                else:
                    if taken.get(p, 0) >= 2:
                        continue
                    taken[p] = taken.get(p, 0) + 1
                out.append((child, pos_child[c], parent, pos_parent[p]))
        return out

    def _prompt_map(self, data_sample: DetDataSample,
                    shape: Tuple[int, int]) -> Optional[np.ndarray]:
        """The sample's prompt at the original image size, or None for a
        full-image prompt."""
        task = data_sample.metainfo.get('task') or {}
        if 'prompt_mask' not in data_sample or \
                task.get('prompt_type', 'full') == 'full':
            return None
        prompt = data_sample.prompt_mask.data
        prompt = prompt.detach().cpu().numpy().reshape(prompt.shape[-2:])
        if prompt.shape != tuple(shape):
            # stored at the padded network input: crop the padding, undo a
            # test-time flip, bring back to the original size
            img_h, img_w = data_sample.metainfo.get('img_shape',
                                                    prompt.shape)[:2]
            prompt = prompt[:img_h, :img_w]
            if data_sample.metainfo.get('flip', False):
                direction = data_sample.metainfo.get('flip_direction',
                                                     'horizontal')
                axes = {
                    'horizontal': (1, ),
                    'vertical': (0, ),
                    'diagonal': (0, 1)
                }[direction]
                prompt = np.flip(prompt, axes)
            prompt = cv2.resize(
                np.ascontiguousarray(prompt).astype(np.uint8),
                (shape[1], shape[0]),
                interpolation=cv2.INTER_NEAREST)
        return prompt.astype(bool)

    def _draw_row(
            self, image: np.ndarray, data_sample: DetDataSample,
            score_thr: float,
            gt: bool) -> Tuple[Dict[str, np.ndarray], Optional[np.ndarray]]:
        """Panels of every level, and the row with the link lines."""
        image = self._enlarge(image)
        shape = image.shape[:2]
        items = self._level_items(data_sample, shape, score_thr, gt)
        if not items:
            return {}, None
        prompt = self._prompt_map(data_sample, shape)
        panels = {}
        for level, item in items.items():
            title = f'{"gt" if gt else "pred"} {level}: {len(item["masks"])}'
            panels[level] = self.draw_level(
                image,
                item['masks'],
                level,
                labels=item['labels'],
                title=title,
                prompt=prompt)
        order = list(panels)
        row = np.concatenate([panels[level] for level in order], axis=1)
        links = self._links(data_sample, items, gt)
        if links:
            width = shape[1]
            xs, ys, colors = [], [], []
            parent_colors = {
                level: level_colors(level, len(item['masks']))
                for level, item in items.items()
            }
            for child, ci, parent, pi in links:
                c_pos = mask_centroid(items[child]['masks'][ci])
                p_pos = mask_centroid(items[parent]['masks'][pi])
                if c_pos is None or p_pos is None:
                    continue
                xs.append([
                    c_pos[0] + width * order.index(child),
                    p_pos[0] + width * order.index(parent)
                ])
                ys.append([c_pos[1], p_pos[1]])
                colors.append(parent_colors[parent][pi])
            if xs:
                self.set_image(row)
                self.draw_lines(
                    np.array(xs),
                    np.array(ys),
                    colors=colors,
                    line_widths=self.line_width)
                row = self.get_image()
        return panels, row

    @master_only
    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: Optional[DetDataSample] = None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       pred_score_thr: float = 0.3,
                       step: int = 0) -> None:
        """Draw a sample's levels and links and save them to all backends.

        The arguments are those of
        :meth:`mmdet.visualization.DetLocalVisualizer.add_datasample`.
        Predictions are one row of level panels; with ``draw_gt`` and a
        ground-truth field in the sample, the ground truth is a second row
        above it. Without anything to draw the image itself is used.

        Args:
            name (str): The image identifier.
            image (np.ndarray): The RGB image at the original size.
            data_sample (DetDataSample, optional): A sample with the fields
                of docs/data_sample.md (sections 1 and 2).
            draw_gt (bool): Whether to draw the ground truth. Defaults to
                True.
            draw_pred (bool): Whether to draw the predictions. Defaults to
                True.
            show (bool): Whether to display the drawn image. Defaults to
                False.
            wait_time (float): The interval of show (s). Defaults to 0.
            out_file (str, optional): Path of the output file.
            pred_score_thr (float): Predicted masks with a score <= this
                are not drawn. Defaults to 0.3.
            step (int): Global step value to record. Defaults to 0.
        """
        image = image.clip(0, 255).astype(np.uint8)
        rows = []
        if data_sample is not None:
            data_sample = data_sample.cpu()
            if draw_gt:
                _, gt_row = self._draw_row(image, data_sample, pred_score_thr,
                                           True)
                if gt_row is not None:
                    rows.append(gt_row)
            if draw_pred:
                _, pred_row = self._draw_row(image, data_sample,
                                             pred_score_thr, False)
                if pred_row is not None:
                    rows.append(pred_row)
        if not rows:
            drawn_img = image
        else:
            width = max(row.shape[1] for row in rows)
            drawn_img = np.concatenate([
                np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)))
                for row in rows
            ],
                                       axis=0)
        self.set_image(drawn_img)
        if show:
            self.show(drawn_img, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(drawn_img[..., ::-1], out_file)
        else:
            self.add_image(name, drawn_img, step)
