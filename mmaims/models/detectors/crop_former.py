# Copyright (c) mmaims contributors. All rights reserved.
import copy
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from mmdet.structures import SampleList
from mmdet.utils import ConfigType
from torch import Tensor

from mmaims.registry import MODELS
from mmaims.structures import ENTITY
from ..dense_heads.crop_former_batch_head import stack_view_targets
from ..layers.crop_batch_decoder import BatchDecoderOutput
from ..utils import merge_crop_predictions
from .aims import AIMS


#: Table 7's inference variants: ``test_cfg`` (``decoder``, ``views``) ->
#: the paper's name. "O": the full image, "C": the four crops, "OC": both.
ENSEMBLE_VARIANTS = {
    ('image', 'full'): 'Image-O',
    ('batch', 'full'): 'Batch-O',
    ('batch', 'crops'): 'Batch-C',
    ('batch', 'full+crops'): 'Batch-OC',
}


@MODELS.register_module()
class CropFormer(AIMS):
    """CropFormer (paper 003, Sec. 4): class-agnostic Mask2Former on the
    full image and its corner crops, tied by batch queries.

    ::

        views (full + K crops, one size; CropFormerViews)
          -> backbone + pixel decoder, all views as one batch   (shared)
          -> decode_head: the entity decoder on every view       -> L_i
          -> batch_head: association module on the entity
             decoder's embeddings of the full view and the crops,
             batch decoder over the views as frames              -> L_b
          -> inference: crop ensemble of the batch-level masks
             (merge_crop_predictions)

    The image-level part is the Mask2Former entity baseline
    (``configs/cropformer/mask2former_*``): an AIMS model with the entity
    decoder only, no mask prompt encoder, no task complementarity and no
    AIMS association head, with the baseline's module names (loading
    baseline weights into it is not tested). The data
    come from :class:`~mmaims.datasets.transforms.CropFormerViews` and
    :class:`~mmaims.datasets.transforms.PackCropFormerInputs` through
    :class:`~mmaims.models.CropFormerDataPreprocessor`: the inputs are the
    ``B * V`` views, sample by sample.

    Losses (eq. 7): the decode head's ``entity.*`` losses over all views
    (each view matched on its own), times ``image_loss_weight``, and the
    batch head's ``batch.*`` losses (joint matching over the views).

    Inference (Sec. 4.3): per sample, the batch head's mask probabilities
    of the full view and of every crop are fused by
    :func:`~mmaims.models.utils.merge_crop_predictions` with the batch
    entityness (softmax probability of "entity") as score; ``test_cfg``
    keys ``mask_thr`` (0.5), ``nonoverlap`` (True), ``rescore`` (False),
    ``max_per_image`` (None) and ``score_thr`` (0.0) are passed on. The
    crop windows are the sample's ``crop_boxes`` in original-image pixels
    (CropFormerViews right after loading in the test pipeline).

    Table 7's variants (:data:`ENSEMBLE_VARIANTS`) are chosen by
    ``test_cfg`` ``decoder`` and ``views``: ``('batch', 'full+crops')``
    (the default, Batch-OC: the ensemble above), ``('batch', 'crops')``
    (Batch-C: the crops' batch-level masks fused without the full view),
    ``('batch', 'full')`` (Batch-O: the full view's batch-level masks) and
    ``('image', 'full')`` (Image-O: the image-level entity decoder on the
    full view alone, i.e. the Mask2Former baseline inside CropFormer; the
    crops are not encoded). All use the same merge (entityness score,
    ``mask_thr``, non-overlap, optional re-scoring).

    Args:
        batch_head (:obj:`ConfigDict` or dict): Config of
            :class:`~mmaims.models.CropFormerBatchHead` (with its own
            ``train_cfg``); the batch decoder's ``feat_channels``,
            ``out_channels``, ``num_queries`` and
            ``num_transformer_feat_level`` default to the entity decoder's,
            and the ``embed_dims`` of its transformer layers to
            ``feat_channels``.
        image_loss_weight (float): Weight of the image-level losses.
            Defaults to 1.0 (eq. 7; the authors' released code uses 0.5).
        **kwargs: The arguments of :class:`AIMS`.
    """

    def __init__(self,
                 batch_head: ConfigType,
                 image_loss_weight: float = 1.0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if self.with_prompt_encoder or self.with_association_head:
            raise ValueError('CropFormer: set prompt_encoder=None and '
                             'association_head=None (class-agnostic '
                             'Mask2Former entity decoder)')
        if tuple(self.decode_head.decoder_names) != (ENTITY, ):
            raise ValueError('CropFormer: the decode head must have the '
                             'entity decoder only, got '
                             f'{tuple(self.decode_head.decoder_names)}')
        entity = self.decode_head.decoders[ENTITY]
        batch_head = copy.deepcopy(dict(batch_head))
        decoder_cfg = dict(batch_head.get('batch_decoder', {}))
        decoder_cfg.setdefault('feat_channels', self.decode_head.feat_channels)
        decoder_cfg.setdefault('out_channels', self.decode_head.out_channels)
        decoder_cfg.setdefault('num_queries', entity.num_queries)
        decoder_cfg.setdefault('num_transformer_feat_level',
                               self.decode_head.num_transformer_feat_level)
        # the transformer layers' widths default to the features' width
        layer_cfg = decoder_cfg.get('transformer_decoder',
                                    {}).get('layer_cfg', {})
        for key in ('self_attn_cfg', 'cross_attn_cfg', 'ffn_cfg'):
            if layer_cfg.get(key) is not None:
                layer_cfg[key].setdefault('embed_dims',
                                          decoder_cfg['feat_channels'])
        batch_head['batch_decoder'] = decoder_cfg
        self.batch_head = MODELS.build(batch_head)
        self.image_loss_weight = float(image_loss_weight)
        variant = (self.test_cfg.get('decoder', 'batch'),
                   self.test_cfg.get('views', 'full+crops'))
        if variant not in ENSEMBLE_VARIANTS:
            raise ValueError(
                f'CropFormer: test_cfg decoder={variant[0]!r}, '
                f'views={variant[1]!r} is not one of Table 7\'s variants '
                + ', '.join(f'{name} (decoder={d!r}, views={v!r})'
                            for (d, v), name in ENSEMBLE_VARIANTS.items()) +
                '; the image decoder\'s queries are not tied across views, '
                'so it has no crop ensemble')
        self.ensemble_variant = variant

    @staticmethod
    def _num_views(batch_inputs: Tensor,
                   batch_data_samples: SampleList) -> int:
        num_samples = len(batch_data_samples)
        views = {
            1 + len(s.get('crop_samples', []))
            for s in batch_data_samples
        }
        if len(views) != 1 or batch_inputs.shape[0] != num_samples * min(
                views) or min(views) < 2:
            raise ValueError(
                f'CropFormer: {batch_inputs.shape[0]} inputs for '
                f'{num_samples} samples with {sorted(views)} views each; '
                'pack the samples with PackCropFormerInputs and batch them '
                'with CropFormerDataPreprocessor')
        return views.pop()

    def _forward_views(self, feats: Tuple[Tensor,
                                          List[Tensor]], num_views: int,
                       image_outputs: dict) -> BatchDecoderOutput:
        """The batch head on the entity decoder's embeddings."""
        mask_features, memorys = feats
        batch = mask_features.shape[0] // num_views
        embeds = image_outputs[ENTITY].query_feats
        embeds = embeds.view(batch, num_views, *embeds.shape[1:])
        return self.batch_head(
            embeds[:, 0], embeds[:, 1:],
            mask_features.view(batch, num_views, *mask_features.shape[1:]),
            [m.view(batch, num_views, *m.shape[1:]) for m in memorys])

    @staticmethod
    def _all_views(batch_data_samples: SampleList) -> SampleList:
        return [
            view for sample in batch_data_samples
            for view in (sample, *sample.crop_samples)
        ]

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Image-level and batch-level losses (eq. 7).

        Args:
            batch_inputs (Tensor): The views, (B * V, 3, H, W).
            batch_data_samples (list[DetDataSample]): The B full views with
                their ``crop_samples``.

        Returns:
            dict[str, Tensor]: ``entity.*`` (image level, every view) and
            ``batch.*`` losses.
        """
        num_views = self._num_views(batch_inputs, batch_data_samples)
        feats = self.extract_feat(batch_inputs)
        mask_features, memorys = feats
        image_losses, outputs, _ = self.decode_head.loss(
            mask_features, memorys, self._all_views(batch_data_samples))
        losses = {
            key: value * self.image_loss_weight
            for key, value in image_losses.items()
        }
        batch_out = self._forward_views(feats, num_views, outputs)
        losses.update(
            self.batch_head.loss_by_feat(
                batch_out.cls_scores, batch_out.mask_preds,
                *self._batch_targets(batch_data_samples,
                                     batch_inputs.device)))
        return losses

    def _batch_targets(self, batch_data_samples: SampleList,
                       device: torch.device) -> Tuple[list, list, list]:
        """Per sample, its entities in every view (G, V, H_pad, W_pad),
        where they are present (G, V), and each view's loss region
        (V, H_pad, W_pad): the image level's own (the decode head's
        ``get_decoder_targets``: ``valid_region`` as
        ``train_cfg['unannotated']`` says, minus crowd regions)."""
        masks, present, regions = [], [], []
        for sample in batch_data_samples:
            views = [
                self.decode_head.get_decoder_targets(view, ENTITY, device)
                for view in (sample, *sample.crop_samples)
            ]
            if any(view is None for view in views):
                raise ValueError(
                    f'CropFormer: image {sample.metainfo.get("img_id")} '
                    'does not supervise the entity decoder in every view')
            indices = [
                view.metainfo['gt_crop_index'] for view in sample.crop_samples
            ]
            m, p = stack_view_targets(views[0]['masks'],
                                      [view['masks'] for view in views[1:]],
                                      indices)
            masks.append(m)
            present.append(p)
            regions.append(torch.stack([view['region'] for view in views]))
        return masks, present, regions

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Crop-ensemble inference (Sec. 4.3) or one of Table 7's other
        variants (``test_cfg`` ``decoder`` and ``views``, see the class).

        Args:
            batch_inputs (Tensor): The views, (B * V, 3, H, W).
            batch_data_samples (list[DetDataSample]): The B full views with
                their ``crop_samples`` and ``crop_boxes``.
            rescale (bool): Must be True: the masks are returned at the
                original image size, where the crop windows are.

        Returns:
            list[DetDataSample]: The full views with ``pred_instances``
            (masks, scores, labels, bboxes, query_index).
        """
        if not rescale:
            raise ValueError('CropFormer.predict: only rescale=True is '
                             'supported: the crop windows are in '
                             'original-image pixels')
        num_views = self._num_views(batch_inputs, batch_data_samples)
        decoder, views = self.ensemble_variant
        if decoder == 'image':
            # Image-O: the image-level decoder on the full views only (the
            # crops are not even encoded)
            full = batch_inputs.view(-1, num_views,
                                     *batch_inputs.shape[1:])[:, 0]
            outputs = self.decode_head(
                *self.extract_feat(full), decoders=(ENTITY, ))[ENTITY]
            cls_scores = outputs.cls_scores[-1]
            mask_preds = outputs.mask_preds[-1].unsqueeze(2)
            used_views = 1
        else:
            feats = self.extract_feat(batch_inputs)
            outputs = self.decode_head(*feats, decoders=(ENTITY, ))
            batch_out = self._forward_views(feats, num_views, outputs)
            cls_scores = batch_out.cls_scores[-1]
            mask_preds = batch_out.mask_preds[-1]
            used_views = num_views
        scores = cls_scores.softmax(-1)[..., 0]
        pad_shape = batch_inputs.shape[-2:]
        cfg = self.test_cfg
        for i, sample in enumerate(batch_data_samples):
            probs = F.interpolate(
                mask_preds[i].flatten(0, 1).unsqueeze(0),
                size=pad_shape,
                mode='bilinear',
                align_corners=False)[0].sigmoid()
            probs = probs.view(mask_preds.shape[1], used_views, *pad_shape)
            resized = []
            # each view at its ori_shape: the image for the full view, the
            # crop window for a crop (fuse_crop_probs places it)
            all_views = (sample, *sample.crop_samples)
            for v, view in enumerate(all_views[:used_views]):
                h, w = view.img_shape[:2]
                resized.append(
                    F.interpolate(
                        probs[None, :, v, :h, :w],
                        size=tuple(view.ori_shape[:2]),
                        mode='bilinear',
                        align_corners=False)[0])
            use_crops = views != 'full'
            crop_boxes = sample.metainfo['crop_boxes']
            sample.pred_instances = merge_crop_predictions(
                resized[0],
                resized[1:] if use_crops else [],
                crop_boxes if use_crops else [],
                scores[i],
                mask_thr=cfg.get('mask_thr', 0.5),
                nonoverlap=cfg.get('nonoverlap', True),
                rescore=cfg.get('rescore', False),
                max_per_image=cfg.get('max_per_image', None),
                score_thr=cfg.get('score_thr', 0.0),
                use_full=views != 'crops')
        return batch_data_samples
