# Copyright (c) mmaims contributors. All rights reserved.
from .cropformer_views import CROP_CORNERS, CropFormerViews, corner_crop_box
from .filter_hierarchical_annotations import FilterHierarchicalAnnotations
from .hierarchical_random_crop import HierarchicalRandomCrop
from .hierarchical_random_flip import HierarchicalRandomFlip
from .hierarchical_resize import HierarchicalResize
from .hierarchy import (LEVEL_PREFIX, PIXEL_MAP_KEYS, check_links, has_level,
                        keep_instances, level_keys, mask_areas, num_instances)
from .load_drill_down_prompts import LoadDrillDownPrompts
from .load_hierarchical_annotations import LoadHierarchicalAnnotations
from .pack_aims_inputs import PackAIMSInputs
from .pack_crop_former_inputs import PackCropFormerInputs
from .sample_task_prompt import SampleTaskPrompt

__all__ = [
    'LoadHierarchicalAnnotations', 'LoadDrillDownPrompts', 'PackAIMSInputs',
    'HierarchicalResize', 'HierarchicalRandomFlip', 'HierarchicalRandomCrop',
    'FilterHierarchicalAnnotations', 'SampleTaskPrompt', 'LEVEL_PREFIX',
    'PIXEL_MAP_KEYS', 'level_keys', 'has_level', 'num_instances',
    'keep_instances', 'mask_areas', 'check_links', 'CropFormerViews',
    'CROP_CORNERS', 'corner_crop_box', 'PackCropFormerInputs'
]
