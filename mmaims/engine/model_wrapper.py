# Copyright (c) mmaims contributors. All rights reserved.
import torch
from mmengine.model import MMDistributedDataParallel

from mmaims.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class AIMSDistributedDataParallel(MMDistributedDataParallel):
    """:class:`MMDistributedDataParallel` that also wraps CPU modules.

    The mmengine Runner always passes ``device_ids=[LOCAL_RANK]``, which
    :class:`torch.nn.parallel.DistributedDataParallel` rejects for a module on
    the CPU. This wrapper drops ``device_ids`` and ``output_device`` when the
    module's parameters are not on a CUDA device, so the same config trains
    with ``gloo`` on CPU and ``nccl`` on GPU.
    """

    def __init__(self, module: torch.nn.Module, detect_anomalous_params=False,
                 **kwargs) -> None:
        param = next(module.parameters(), None)
        if param is None or param.device.type != 'cuda':
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        super().__init__(
            module=module,
            detect_anomalous_params=detect_anomalous_params,
            **kwargs)
