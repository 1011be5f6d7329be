# Copyright (c) mmaims contributors. All rights reserved.
from .levels import ENTITY, LEVELS, LINK_TYPES, PART, RELATION, check_level
from .mask import (decode_rle, encode_mask, merge_rles, rle_area, rle_bbox,
                   to_rle)

__all__ = [
    'LEVELS', 'PART', 'ENTITY', 'RELATION', 'LINK_TYPES', 'check_level',
    'to_rle', 'encode_mask', 'decode_rle', 'rle_area', 'rle_bbox',
    'merge_rles'
]
