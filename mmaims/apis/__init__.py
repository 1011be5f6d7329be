# Copyright (c) mmaims contributors. All rights reserved.
# the hierarchy view is a view of the prediction file and lives in
# structures/; it is re-exported here for users of the inference API
from mmaims.structures import build_hierarchy, hierarchy_edges, hierarchy_nodes
from .aims_image_session import AIMSImageSession
from .aims_inferencer import AIMSInferencer
from .inputs import ImageLoadError, load_image, load_prompt

__all__ = [
    'AIMSInferencer', 'AIMSImageSession', 'build_hierarchy', 'hierarchy_edges',
    'hierarchy_nodes', 'ImageLoadError', 'load_image', 'load_prompt'
]
