# Copyright (c) mmaims contributors. All rights reserved.
from typing import List, Optional, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmaims.registry import METRICS
from mmaims.structures.predictions import (merge_predictions,
                                           samples_to_predictions)
from mmaims.utils.file_io import dump_json


@METRICS.register_module()
class DumpAIMSPredictions(BaseMetric):
    """Write predictions of all ranks as a prediction file (docs/formats.md
    section 2).

    Each processed sample is converted to RLE at once (small results for
    ``collect_results``); at the end the master rank renumbers the mask ids
    so they are unique in the file and writes it. The file can be scored
    with ``tools/analysis_tools/eval_predictions.py`` and read back with
    :func:`mmaims.structures.load_predictions`.

    It returns no metric keys.

    Args:
        out_file_path (str): Output ``.json`` path.
        collect_device (str): Device used to collect results across ranks.
            Defaults to ``'cpu'``.
        prefix (str, optional): Unused key prefix (kept for the BaseMetric
            signature).
    """
    default_prefix: Optional[str] = 'aims'

    def __init__(self,
                 out_file_path: str,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not str(out_file_path).endswith('.json'):
            raise ValueError('DumpAIMSPredictions writes JSON: out_file_path '
                             f'must end with .json, got "{out_file_path}"')
        self.out_file_path = str(out_file_path)

    def process(self, data_batch: dict, data_samples: Sequence) -> None:
        """Convert each predicted sample to a prediction dict.

        Args:
            data_batch (dict): The batch from the dataloader (unused).
            data_samples (Sequence[DetDataSample | dict]): Predicted samples
                (docs/data_sample.md section 2).
        """
        for sample in data_samples:
            self.results.append(samples_to_predictions([sample]))

    def compute_metrics(self, results: List[dict]) -> dict:
        """Write the merged predictions to ``out_file_path``.

        Returns:
            dict: Empty.
        """
        merged = merge_predictions(results)
        dump_json(merged, self.out_file_path)
        prompts = merged.get('prompts')
        drill = '' if prompts is None else \
            f' (with the outputs of {len(prompts)} drill-down prompts)'
        MMLogger.get_current_instance().info(
            f'{len(merged["masks"])} masks{drill} and {len(merged["links"])} '
            f'links of {len(results)} images written to '
            f'{self.out_file_path}')
        return {}
