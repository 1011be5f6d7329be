# Copyright (c) mmaims contributors. All rights reserved.
"""The contracts of mmaims, each in one module.

- :mod:`.levels`: the level names;
- :mod:`.fields`: data-sample field names and the link types
  (docs/data_sample.md);
- :mod:`.tasks`: paper Table 5 (sample and prompt types) and the one reader
  of a sample's ``task``;
- :mod:`.annotations`: the one parser of annotation files
  (docs/formats.md section 1);
- :mod:`.predictions`: the prediction file (docs/formats.md section 2);
- :mod:`.hierarchy`: the hierarchy view of a prediction;
- :mod:`.id_map`: the non-overlapping id map PNG of a prediction's level
  (docs/formats.md section 2.1);
- :mod:`.mask`: mask encodings (COCO RLE);
- :mod:`.prompt_geometry`: where a mask prompt lies in each frame;
- :mod:`.drill_down`: the drill-down prompts the metric scores.
"""
from .annotations import (AnnotationRecord, HierarchicalAnnotationError,
                          ImageRecord, load_annotation_file, parse_annotations)
from .drill_down import (DRILL_DOWN_PROMPT_TYPES, AnnotationLinks,
                         DrillDownPrompt, annotation_links, drill_down_prompts)
from .fields import (GT_FIELDS, IGNORED_FIELDS, INSTANCE_FIELDS, LINK_FIELDS,
                     LINK_TYPES, PIXEL_FIELDS, PRED_FIELDS, PROMPTED_FIELD,
                     LinkType, link_type)
from .hierarchy import build_hierarchy, hierarchy_edges, hierarchy_nodes
from .id_map import (ID_MAP_LEVELS, ID_MAP_MAX_ID, id_map_to_masks,
                     load_id_map, masks_to_id_map, prediction_to_id_map,
                     save_id_map)
from .levels import ENTITY, LEVELS, PART, RELATION, check_level
from .mask import (decode_rle, encode_mask, grow_mask, make_nonoverlap,
                   mask_bboxes, merge_rles, rle_area, rle_bbox, to_rle)
from .predictions import (load_predictions, masks_to_numpy, masks_to_rles,
                          merge_predictions, sample_level_predictions,
                          sample_link_predictions, samples_to_predictions,
                          validate_predictions)
from .tasks import (DEFAULT_POOLS, PROMPT_TYPES, SAMPLE_TYPES, Supervision,
                    Task, check_sample_type, eval_task, parse_task,
                    sample_type_of, supervision)

__all__ = [
    'LEVELS', 'PART', 'ENTITY', 'RELATION', 'check_level', 'GT_FIELDS',
    'IGNORED_FIELDS', 'PRED_FIELDS', 'PROMPTED_FIELD', 'INSTANCE_FIELDS',
    'PIXEL_FIELDS', 'LINK_TYPES', 'LINK_FIELDS', 'LinkType', 'link_type',
    'SAMPLE_TYPES', 'PROMPT_TYPES', 'DEFAULT_POOLS', 'Supervision', 'Task',
    'check_sample_type', 'eval_task', 'parse_task', 'sample_type_of',
    'supervision', 'to_rle', 'encode_mask', 'decode_rle', 'rle_area',
    'rle_bbox', 'mask_bboxes', 'grow_mask', 'make_nonoverlap', 'merge_rles',
    'masks_to_numpy', 'masks_to_rles', 'sample_level_predictions',
    'sample_link_predictions', 'samples_to_predictions', 'merge_predictions',
    'validate_predictions', 'load_predictions', 'build_hierarchy',
    'hierarchy_edges', 'hierarchy_nodes', 'ID_MAP_LEVELS', 'ID_MAP_MAX_ID',
    'masks_to_id_map', 'prediction_to_id_map', 'save_id_map', 'load_id_map',
    'id_map_to_masks', 'AnnotationRecord', 'HierarchicalAnnotationError',
    'ImageRecord', 'load_annotation_file', 'parse_annotations',
    'DRILL_DOWN_PROMPT_TYPES', 'AnnotationLinks', 'DrillDownPrompt',
    'annotation_links', 'drill_down_prompts'
]
