# Copyright (c) mmaims contributors. All rights reserved.
from .aims_local_visualizer import AIMSLocalVisualizer, level_colors
from .scene_graph import draw_scene_graph, scene_graph_masks

__all__ = [
    'AIMSLocalVisualizer', 'level_colors', 'draw_scene_graph',
    'scene_graph_masks'
]
