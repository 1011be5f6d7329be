# Copyright (c) mmaims contributors. All rights reserved.
from .aims_image_session import AIMSImageSession
from .aims_inferencer import AIMSInferencer
from .hierarchy import build_hierarchy, hierarchy_edges, hierarchy_nodes
from .inputs import ImageLoadError, load_image, load_prompt

__all__ = [
    'AIMSInferencer', 'AIMSImageSession', 'build_hierarchy', 'hierarchy_edges',
    'hierarchy_nodes', 'ImageLoadError', 'load_image', 'load_prompt'
]
