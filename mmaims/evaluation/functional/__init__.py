# Copyright (c) mmaims contributors. All rights reserved.
from .association_recall import average_recall, recall_image
from .drill_down import (INSIDE_FRACTION, drill_keys, evaluate_image_prompts,
                         inside_prompt, score_prompt, summarize_prompts)
from .federated_evaluation import (ALL_LEVELS_AR_KEY, AP_KEYS, MAX_ALL_LEVELS,
                                   MAX_DETS, MAX_LINKS, ar_key,
                                   evaluate_federated, format_metric_table,
                                   group_predictions, metric_keys,
                                   rescore_predictions)
from .ground_truth import FederatedGroundTruth, ImageGroundTruth
from .mask_ap import (IOU_THRS, REC_THRS, accumulate_precision,
                      average_mask_recall, evaluate_image, mask_ious,
                      match_detections, summarize_precision)
from .nonoverlap import make_disjoint_masks, make_disjoint_rles

__all__ = [
    'IOU_THRS', 'REC_THRS', 'mask_ious', 'match_detections', 'evaluate_image',
    'accumulate_precision', 'summarize_precision', 'make_disjoint_masks',
    'make_disjoint_rles', 'recall_image', 'average_recall',
    'FederatedGroundTruth', 'ImageGroundTruth', 'evaluate_federated',
    'group_predictions', 'format_metric_table', 'metric_keys', 'ar_key',
    'AP_KEYS', 'rescore_predictions', 'MAX_DETS', 'MAX_LINKS',
    'ALL_LEVELS_AR_KEY', 'MAX_ALL_LEVELS',
    'average_mask_recall', 'INSIDE_FRACTION', 'drill_keys',
    'evaluate_image_prompts', 'inside_prompt', 'score_prompt',
    'summarize_prompts'
]
