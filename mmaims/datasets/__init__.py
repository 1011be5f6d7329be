# Copyright (c) mmaims contributors. All rights reserved.
from .aims_task_dataset import AIMSTaskDataset
from .hierarchical_coco import (HierarchicalAnnotationError,
                                HierarchicalCocoDataset)
from .samplers import *  # noqa: F401,F403
from .task_prompts import can_serve, image_statistics
from .transforms import *  # noqa: F401,F403

__all__ = [
    'HierarchicalCocoDataset', 'HierarchicalAnnotationError',
    'AIMSTaskDataset', 'can_serve', 'image_statistics'
]
