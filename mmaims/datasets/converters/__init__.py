# Copyright (c) mmaims contributors. All rights reserved.
"""Converters from the AIMS source datasets (and ADE20K) to hierarchical COCO.

``tools/dataset_converters/aims_convert.py`` is the command line over these
functions; docs/converters.md describes what each one keeps and skips.
"""
from .ade20k_panoptic import ade20k_image_id, convert_ade20k_panoptic
from .coco_panoptic import (convert_coco_panoptic, convert_panoptic_item,
                            convert_panoptic_json, convert_panoptic_record)
from .common import (ConversionError, ConversionReport, HierarchicalCocoWriter,
                     coco_id_from_file_name, make_annotation, report_path,
                     rgb2id)
from .entityseg import convert_entityseg
from .eval_split import (NUM_EVAL_PPP, NUM_EVAL_PSG, build_eval_split,
                         format_split_report, image_keys)
from .paco import convert_paco
from .ppp import (PPP_THING_SIDS, convert_ppp, convert_ppp_label, decode_uids,
                  load_ppp_spec)
from .psg import (DEFAULT_CONTACT_PREDICATES, convert_psg, convert_psg_record,
                  masks_touch)

__all__ = [
    'ConversionError', 'ConversionReport', 'HierarchicalCocoWriter',
    'make_annotation', 'report_path', 'rgb2id', 'coco_id_from_file_name',
    'convert_coco_panoptic', 'convert_panoptic_json', 'convert_panoptic_item',
    'convert_panoptic_record', 'convert_ade20k_panoptic', 'ade20k_image_id',
    'convert_entityseg', 'convert_ppp', 'convert_ppp_label', 'decode_uids',
    'load_ppp_spec', 'PPP_THING_SIDS', 'convert_paco', 'convert_psg',
    'convert_psg_record', 'masks_touch', 'DEFAULT_CONTACT_PREDICATES',
    'build_eval_split', 'format_split_report', 'image_keys', 'NUM_EVAL_PPP',
    'NUM_EVAL_PSG'
]
