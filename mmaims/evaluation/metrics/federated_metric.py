# Copyright (c) mmaims contributors. All rights reserved.
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmaims.registry import METRICS
from mmaims.structures.predictions import (masks_to_numpy, masks_to_rles,
                                           sample_level_predictions,
                                           sample_link_predictions,
                                           sample_prompted_predictions)
from ..functional import (FederatedGroundTruth, evaluate_federated,
                          format_metric_table, make_disjoint_masks,
                          make_disjoint_rles, rescore_predictions)


@METRICS.register_module()
class FederatedMetric(BaseMetric):
    """Federated, class-agnostic AIMS metric (docs/formats.md section 3).

    A level is evaluated only on the images whose ``levels`` (in
    ``ann_file``) list it, with that level's GT and predictions; the
    association recalls on the images listing both levels. AP equals
    pycocotools ``COCOeval(iouType='segm')`` with ``useCats = 0`` on the same
    subsets (101 recall points, IoU 0.50:0.05:0.95, 100 masks per image,
    crowd GT ignored).

    ``process`` encodes each sample's predicted masks (and their
    non-overlapping version) as RLE at once, so the results kept until
    ``compute_metrics`` grow with the number of masks, not with image area,
    and are small enough for mmengine's ``collect_results`` across ranks.
    The images evaluated are those processed (each at most once); GT images
    that were not processed are left out.

    Returned keys (BaseMetric adds the prefix, ``aims/`` by default):

    - ``part_mAP``, ``part_mAP_50``, ``part_mAP_75``,
      ``part_mAP_nonoverlap`` (AP^e) with ``part_mAP_nonoverlap_50`` and
      ``part_mAP_nonoverlap_75``, ``part_AR@100`` (COCO's AR at 100 masks),
      and the same for ``entity`` and ``relation``;
    - ``entity_part_AR@100``, ``relation_entity_AR@100`` (association);
    - ``AR@1000``: class-agnostic recall of all predicted masks of all
      levels (at most 1000 per image) against all GT masks of the levels
      an image lists;
    - with ``drill_down=True`` (docs/formats.md section 3, "Drill-down"):
      ``drill_part_mAP``, ``drill_part_AR@100`` (entity prompts split into
      parts), ``drill_entity_mAP``, ``drill_entity_AR@100`` (relation
      prompts split into entities), the reference ``restricted_part_*`` and
      ``restricted_entity_*`` (one-step masks at least half inside the
      prompt), and ``drill_part_prompts``, ``drill_part_skipped``,
      ``drill_entity_prompts``, ``drill_entity_skipped`` (prompts scored /
      candidates skipped, e.g. on an image that does not list the level),
      and ``R@0.75`` of each; with rough prompts
      (``LoadDrillDownPrompts(perturbation=...)``) the keys carry the
      perturbation's tag (``drill_box_part_mAP``);
    - when ``ann_file`` has more than one ``source``, every key above again
      as ``{source}/{key}``, computed on that source's images.

    A value is -1 when nothing is evaluable (no processed image lists the
    level(s), or they hold no non-crowd GT / GT pair / prompt; ``drill_*``
    AP and AR of a model without MPE, which predicts no drill-down). Values
    are unrounded fractions.

    Drill-down needs :class:`mmaims.datasets.transforms.LoadDrillDownPrompts`
    in the test pipeline: it gives each image its prompts, the model
    predicts on them (:class:`mmaims.models.AIMS`) and this metric scores
    them.

    With ``rescore=True`` every one-step mask's score is multiplied by
    its mask score (``pred_instances.mask_scores``: CropFormer's mean
    probability over the mask's pixels) before anything is scored: the
    released CropFormer protocol (docs/formats.md section 3). Two metrics
    in ``test_evaluator`` (one with ``rescore=True`` and another
    ``prefix``) report AP^e with and without it in one run.

    Args:
        ann_file (str): Hierarchical COCO annotation file (docs/formats.md
            section 1) holding the GT.
        drill_down (bool): Score the drill-down prompts. Defaults to False.
        rescore (bool): Re-score the masks by their mask scores (a model
            without them is an error). Defaults to False.
        collect_device (str): Device used to collect results across ranks,
            ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Key prefix. Defaults to ``'aims'``.
        backend_args (dict, optional): mmengine file backend arguments.
    """
    default_prefix: Optional[str] = 'aims'

    def __init__(self,
                 ann_file: str,
                 drill_down: bool = False,
                 rescore: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 backend_args: Optional[dict] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ann_file = ann_file
        self.drill_down = drill_down
        self.rescore = rescore
        self.backend_args = backend_args
        self.gt = FederatedGroundTruth.from_file(ann_file, backend_args)

    def process(self, data_batch: dict, data_samples: Sequence) -> None:
        """Encode the predictions of a batch and keep them in
        ``self.results``.

        Args:
            data_batch (dict): The batch from the dataloader (unused).
            data_samples (Sequence[DetDataSample | dict]): Predicted samples
                (docs/data_sample.md section 2), masks at ``ori_shape``.
        """
        for sample in data_samples:
            # re-scoring changes the scores, and the non-overlapping masks
            # with them: the evaluation computes those from the new scores
            self.results.append(
                self.encode_sample(sample, with_nonoverlap=not self.rescore))

    @staticmethod
    def encode_sample(sample, with_nonoverlap: bool = True) -> dict:
        """RLE-encoded image predictions of one predicted sample.

        Args:
            sample (DetDataSample | dict): A predicted sample.
            with_nonoverlap (bool): Precompute the non-overlapping masks
                (False: the evaluation computes them, as it must after
                re-scoring). Defaults to True.

        Returns:
            dict: ``img_id``, ``has_prompts`` (the sample carries
            ``drill_down_prompts``) and ``predictions`` (an image
            predictions dict of
            :mod:`mmaims.evaluation.functional.federated_evaluation`, with
            the non-overlapping masks precomputed from the dense masks
            when ``with_nonoverlap`` and, with drill-down outputs,
            ``prompted``).
        """
        img_id = sample.get('img_id')
        if img_id is None:
            raise ValueError('FederatedMetric: a data sample has no "img_id"')
        masks, nonoverlap = {}, {}
        for level, preds in sample_level_predictions(sample).items():
            scores = preds['scores']
            if isinstance(preds['masks'], (list, tuple)):
                rles = masks_to_rles(preds['masks'])
                if with_nonoverlap:
                    keep, disjoint = make_disjoint_rles(rles, scores)
            else:
                dense = masks_to_numpy(preds['masks'])
                rles = masks_to_rles(dense)
                if with_nonoverlap:
                    keep, disjoint = make_disjoint_masks(
                        dense, scores, rles=rles)
            # Rows double as ids: "ties: lower id wins" follows row order,
            # the order samples_to_predictions numbers masks in.
            masks[level] = dict(
                rles=rles, scores=scores, ids=np.arange(len(rles)))
            if 'mask_scores' in preds:
                masks[level]['mask_scores'] = preds['mask_scores']
            if with_nonoverlap:
                nonoverlap[level] = dict(rles=disjoint, scores=scores[keep])
        predictions = dict(masks=masks, links=sample_link_predictions(sample))
        if with_nonoverlap:
            predictions['nonoverlap'] = nonoverlap
        prompts = sample.get('drill_down_prompts') or []
        tags = {p.get('perturbation', '') for p in prompts}
        if len(tags) > 1:
            raise ValueError(f'image id {img_id}: drill-down prompts with '
                             f'different perturbations {sorted(tags)}')
        # None: the image has no prompt, so it says nothing of the tag
        tag = tags.pop() if tags else None
        if tag:
            # rough prompts: the reference is restricted to what was given
            predictions['prompt_masks'] = {}
            for p in prompts:
                predictions['prompt_masks'].setdefault(
                    p['type'], {})[p['ann_id']] = p['mask']
        outputs = sample_prompted_predictions(sample)
        if outputs is not None:
            prompted = {}
            for output in outputs:
                prompt = output['prompt']
                prompted.setdefault(prompt['type'], {})[prompt['ann_id']] = \
                    dict(rles=output['rles'], scores=output['scores'])
            predictions['prompted'] = prompted
        return dict(
            img_id=int(img_id),
            has_prompts=sample.get('drill_down_prompts') is not None,
            drill_down_tag=tag,
            predictions=predictions)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Compute the metrics from the results of all ranks.

        Args:
            results (list[dict]): Outputs of :meth:`encode_sample`.

        Returns:
            dict[str, float]: The keys listed in the class docstring.
        """
        logger = MMLogger.get_current_instance()
        predictions = {}
        for result in results:
            img_id = result['img_id']
            if img_id in predictions:
                raise ValueError(
                    f'FederatedMetric: image id {img_id} was processed '
                    'twice; the evaluation dataset must list every image '
                    'once (full-image, one-step samples)')
            if img_id not in self.gt.images:
                raise ValueError(f'FederatedMetric: image id {img_id} is not '
                                 f'in {self.ann_file}')
            predictions[img_id] = result['predictions']
        prompted = any('prompted' in r['predictions'] for r in results)
        tags = {
            r['drill_down_tag']
            for r in results if r.get('drill_down_tag') is not None
        }
        if len(tags) > 1:
            raise ValueError('FederatedMetric: the images were given '
                             'drill-down prompts with different '
                             f'perturbations {sorted(tags)}')
        if self.drill_down:
            if not any(r.get('has_prompts') for r in results):
                raise ValueError(
                    'FederatedMetric(drill_down=True): the samples carry no '
                    'drill_down_prompts; add dict(type='
                    '"LoadDrillDownPrompts") to the test pipeline')
            if not prompted:
                logger.info('drill-down: the model predicted no prompt '
                            '(it has no mask prompt encoder); only the '
                            'one-step reference (restricted_*) is scored')
        if self.rescore:
            predictions = rescore_predictions(predictions)
        logger.info(f'Evaluating {len(predictions)} images against '
                    f'{self.ann_file}' +
                    (' (re-scored by mask scores)' if self.rescore else '') +
                    '...')
        metrics = evaluate_federated(
            self.gt,
            predictions,
            image_ids=list(predictions),
            show_progress=True,
            drill_down=self.drill_down,
            prompted=prompted,
            drill_down_tag=tags.pop() if tags else '')
        logger.info('\n' + format_metric_table(metrics))
        return metrics
