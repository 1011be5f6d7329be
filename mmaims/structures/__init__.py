# Copyright (c) mmaims contributors. All rights reserved.
from .hierarchy import build_hierarchy, hierarchy_edges, hierarchy_nodes
from .levels import ENTITY, LEVELS, LINK_TYPES, PART, RELATION, check_level
from .mask import (decode_rle, encode_mask, merge_rles, rle_area, rle_bbox,
                   to_rle)
from .predictions import (LEVEL_FIELDS, LINK_FIELDS, load_predictions,
                          masks_to_numpy, masks_to_rles, merge_predictions,
                          sample_level_predictions, sample_link_predictions,
                          samples_to_predictions, validate_predictions)

__all__ = [
    'LEVELS', 'PART', 'ENTITY', 'RELATION', 'LINK_TYPES', 'check_level',
    'to_rle', 'encode_mask', 'decode_rle', 'rle_area', 'rle_bbox',
    'merge_rles', 'LEVEL_FIELDS', 'LINK_FIELDS', 'masks_to_numpy',
    'masks_to_rles', 'sample_level_predictions', 'sample_link_predictions',
    'samples_to_predictions', 'merge_predictions', 'validate_predictions',
    'load_predictions', 'build_hierarchy', 'hierarchy_edges',
    'hierarchy_nodes'
]
