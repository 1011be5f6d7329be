# Copyright (c) mmaims contributors. All rights reserved.
from .dump_aims_predictions import DumpAIMSPredictions
from .federated_metric import FederatedMetric

__all__ = ['FederatedMetric', 'DumpAIMSPredictions']
