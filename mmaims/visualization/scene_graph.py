# Copyright (c) mmaims contributors. All rights reserved.
"""Picture of a hierarchy tree as a scene graph (paper Fig. 8).

Three rows, relations at the top, entities in the middle, parts at the
bottom. A node is a thumbnail of its mask: the image cropped around the
mask, the mask tinted with its level's colour and the rest dimmed, framed in
the level colour, captioned with the mask id and score. Edges join each
parent to its children (relation -> its two entities, entity -> its parts);
an entity in two relations has an edge from each.
"""
from typing import Dict, Optional, Tuple

import cv2
import numpy as np

from mmaims.structures import (ENTITY, PART, RELATION, hierarchy_edges,
                               hierarchy_nodes)
from .aims_local_visualizer import level_colors

ROW_ORDER = (RELATION, ENTITY, PART)


def _thumbnail(image: np.ndarray, mask: Optional[np.ndarray], size: int,
               color: Tuple[int, int, int]) -> np.ndarray:
    """Square ``size`` thumbnail of the mask's region of the image."""
    canvas = np.full((size, size, 3), 40, np.uint8)
    if mask is None or not mask.any():
        return canvas
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    pad = max(2, int(0.15 * max(y1 - y0, x1 - x0)))
    h, w = mask.shape
    y0, y1 = max(0, y0 - pad), min(h, y1 + pad)
    x0, x1 = max(0, x0 - pad), min(w, x1 + pad)
    crop = image[y0:y1, x0:x1].astype(np.float32)
    inside = mask[y0:y1, x0:x1, None]
    tinted = 0.65 * crop + 0.35 * np.array(color, np.float32)
    crop = np.where(inside, tinted, 0.3 * crop).clip(0, 255).astype(np.uint8)
    scale = (size - 4) / max(crop.shape[:2])
    new_w = max(1, int(round(crop.shape[1] * scale)))
    new_h = max(1, int(round(crop.shape[0] * scale)))
    crop = cv2.resize(
        crop, (new_w, new_h),
        interpolation=cv2.INTER_NEAREST if scale > 1 else cv2.INTER_AREA)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = crop
    return canvas


def draw_scene_graph(image: np.ndarray,
                     tree: dict,
                     masks: Dict[int, np.ndarray],
                     thumb_size: int = 96,
                     max_nodes_per_level: int = 24) -> np.ndarray:
    """Draw a hierarchy tree (:func:`mmaims.apis.build_hierarchy`).

    Args:
        image (np.ndarray): RGB image ``H x W x 3`` the masks refer to.
        tree (dict): The hierarchy tree.
        masks (dict[int, np.ndarray]): Mask id -> ``H x W`` bool mask, for
            the thumbnails (a missing id gets a blank thumbnail).
        thumb_size (int): Side of a node thumbnail in pixels. Defaults to
            96.
        max_nodes_per_level (int): Nodes drawn per row at most (the best
            ones, in tree order); the number left out is written at the end
            of the row. Defaults to 24.

    Returns:
        np.ndarray: The RGB picture.
    """
    nodes = hierarchy_nodes(tree)
    shown = {level: nodes[level][:max_nodes_per_level] for level in nodes}
    hidden = {level: len(nodes[level]) - len(shown[level]) for level in nodes}

    gap_x, caption_h, gap_y, label_w, top = 16, 18, 56, 90, 10
    row_h = thumb_size + caption_h
    most = max([len(v) + (hidden[k] > 0) for k, v in shown.items()] + [1])
    width = max(label_w + most * (thumb_size + gap_x) + gap_x, 360)
    height = top + len(ROW_ORDER) * row_h + (len(ROW_ORDER) - 1) * gap_y + 10
    canvas = np.full((height, width, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX

    boxes: Dict[int, Tuple[int, int]] = {}  # id -> (x of left, y of top)
    colors: Dict[int, Tuple[int, int, int]] = {}
    for r, level in enumerate(ROW_ORDER):
        y = top + r * (row_h + gap_y)
        cv2.putText(canvas, level, (6, y + thumb_size // 2 + 5), font, 0.5,
                    (0, 0, 0), 1, cv2.LINE_AA)
        row = shown[level]
        palette = level_colors(level, len(row))
        used = len(row) + (hidden[level] > 0)
        x0 = label_w + (width - label_w - used * (thumb_size + gap_x)) // 2
        for i, node in enumerate(row):
            boxes[node['id']] = (x0 + i * (thumb_size + gap_x), y)
            colors[node['id']] = palette[i]
        if not row:
            cv2.putText(canvas, '(none)',
                        (label_w + 10, y + thumb_size // 2 + 5), font, 0.5,
                        (120, 120, 120), 1, cv2.LINE_AA)
        if hidden[level]:
            cv2.putText(canvas, f'+{hidden[level]} more',
                        (x0 + len(row) *
                         (thumb_size + gap_x), y + thumb_size // 2 + 5), font,
                        0.45, (80, 80, 80), 1, cv2.LINE_AA)

    # edges first, so that nodes are drawn over their ends
    half = thumb_size // 2
    for parent, child, _ in hierarchy_edges(tree):
        if parent not in boxes or child not in boxes:
            continue
        (px, py), (cx, cy) = boxes[parent], boxes[child]
        cv2.line(canvas, (px + half, py + row_h), (cx + half, cy),
                 colors[parent], 2, cv2.LINE_AA)

    for level in ROW_ORDER:
        for node in shown[level]:
            x, y = boxes[node['id']]
            color = colors[node['id']]
            thumb = _thumbnail(image, masks.get(node['id']), thumb_size, color)
            canvas[y:y + thumb_size, x:x + thumb_size] = thumb
            cv2.rectangle(canvas, (x, y),
                          (x + thumb_size - 1, y + thumb_size - 1), color, 3)
            cv2.putText(canvas, f'{node["id"]}: {node["score"]:.2f}',
                        (x + 2, y + thumb_size + caption_h - 5), font, 0.42,
                        (0, 0, 0), 1, cv2.LINE_AA)
    prompt = tree.get('prompt')
    if prompt:
        cv2.putText(canvas, f'prompt -> {prompt.get("decoder")} decoder',
                    (6, height - 4), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas


def scene_graph_masks(predictions: dict, tree: dict) -> Dict[int, np.ndarray]:
    """Decode the masks of the nodes of a tree from a prediction dict."""
    from mmaims.structures import decode_rle
    wanted = {n['id'] for ns in hierarchy_nodes(tree).values() for n in ns}
    return {
        m['id']: decode_rle(m['segmentation'])
        for m in predictions.get('masks', []) if m['id'] in wanted
    }
