# Copyright (c) mmaims contributors. All rights reserved.
import copy
import inspect
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmdet.models.detectors import BaseDetector
from mmdet.structures import DetDataSample, SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.structures import InstanceData, PixelData
from torch import Tensor

from mmaims.registry import MODELS
from mmaims.structures import LEVELS, decode_rle
from mmaims.structures.drill_down import DRILL_DOWN_PROMPT_LEVELS
from mmaims.structures.fields import (LINK_TYPES, PRED_FIELDS,
                                      PROMPT_ROUGH_KEY, PROMPTED_FIELD)
from mmaims.structures.prompt_geometry import (PromptLike, RoughLike,
                                               entity_clip_region,
                                               prompt_to_input, rough_flags,
                                               snap_prompt)
from mmaims.structures.tasks import (DEFAULT_PROMPT_DECODERS,
                                     DEFAULT_PROMPT_OUTPUT_LEVELS,
                                     DEFAULT_PROMPT_TYPES, PROMPT_TYPES,
                                     parse_task, sample_type_of)
from ..dense_heads.association_head import DEFAULT_PAIRS
from ..layers import DecoderOutput

#: Values of ``test_cfg.prompt_decoder_subset`` (see :class:`AIMS`).
PROMPT_DECODER_SUBSETS = ('all', 'coupled', 'own')

Feats = Tuple[Tensor, List[Tensor]]


def fill_widths(model: ConfigType) -> dict:
    """Derive every channel width of an AIMS model config from the pixel
    decoder's, so that a config sets its width once.

    ``pixel_decoder.feat_channels`` (C, default 256) is the width of the
    multi-scale features, the queries and every attention and FFN of the
    pixel decoder's encoder, the decoders and the association module's
    input; ``pixel_decoder.out_channels`` (default C) the width of the mask
    features and of the encoded prompt. Missing entries are filled in:

    - ``pixel_decoder``: ``encoder.layer_cfg.self_attn_cfg.embed_dims`` and
      ``ffn_cfg.embed_dims`` = C, ``positional_encoding.num_feats`` = C / 2;
    - ``decode_head``: ``feat_channels`` = C, ``out_channels``, the
      ``embed_dims`` of the transformer decoder's attentions and FFN = C,
      ``positional_encoding.num_feats`` = C / 2 (the TCM takes the head's
      width itself);
    - ``prompt_encoder.out_channels`` = ``out_channels``;
    - ``mask_upsampler.channels`` = ``out_channels``;
    - ``association_head.in_channels`` = C and its ``feat_channels`` = C.

    A value given in the config is kept, so explicit configs (mmdet style)
    are unchanged.

    Args:
        model (dict): The model config (``backbone``, ``pixel_decoder``,
            ``decode_head``, ...).

    Returns:
        dict: A completed copy.
    """
    model = copy.deepcopy(dict(model))
    pixel = model['pixel_decoder'] = dict(model['pixel_decoder'])
    feat = pixel.setdefault('feat_channels', 256)
    out = pixel.setdefault('out_channels', feat)

    def fill(cfg: dict, *path: str, value) -> None:
        for key in path[:-1]:
            cfg = cfg.setdefault(key, dict())
        cfg.setdefault(path[-1], value)

    for sub in ('self_attn_cfg', 'ffn_cfg'):
        fill(pixel, 'encoder', 'layer_cfg', sub, 'embed_dims', value=feat)
    fill(pixel, 'positional_encoding', 'num_feats', value=feat // 2)
    head = model['decode_head'] = dict(model['decode_head'])
    head.setdefault('feat_channels', feat)
    head.setdefault('out_channels', out)
    for sub in ('self_attn_cfg', 'cross_attn_cfg', 'ffn_cfg'):
        fill(
            head,
            'transformer_decoder',
            'layer_cfg',
            sub,
            'embed_dims',
            value=head['feat_channels'])
    fill(
        head,
        'positional_encoding',
        'num_feats',
        value=head['feat_channels'] // 2)
    if model.get('prompt_encoder') is not None:
        model['prompt_encoder'] = dict(model['prompt_encoder'])
        model['prompt_encoder'].setdefault('out_channels', out)
    if model.get('mask_upsampler') is not None:
        model['mask_upsampler'] = dict(model['mask_upsampler'])
        model['mask_upsampler'].setdefault('channels', out)
    if model.get('association_head') is not None:
        assoc = model['association_head'] = dict(model['association_head'])
        assoc.setdefault('in_channels', head['feat_channels'])
        assoc.setdefault('feat_channels', assoc['in_channels'])
    return model


def scratch_backbone_cfg(backbone: ConfigType) -> dict:
    """A backbone config made fit for training from random weights.

    ``init_cfg`` is dropped (the backbone's own random init); a
    ``norm_cfg`` gets ``requires_grad=True``; ``norm_eval`` becomes False;
    a backbone class with a ``zero_init_residual`` argument (mmdet's
    ResNet family) gets False, so that no residual block is the identity
    at the start (with frozen norms it would stay one for good).

    Args:
        backbone (dict): The backbone config.

    Returns:
        dict: A changed copy.
    """
    backbone = copy.deepcopy(dict(backbone))
    backbone['init_cfg'] = None
    if backbone.get('norm_cfg') is not None:
        backbone['norm_cfg'] = dict(backbone['norm_cfg'], requires_grad=True)
    backbone_cls = MODELS.get(backbone['type']) if isinstance(
        backbone['type'], str) else backbone['type']
    if backbone_cls is None:
        raise KeyError(f'unknown backbone type {backbone["type"]!r}')
    params = inspect.signature(backbone_cls.__init__).parameters
    # mmdet's ResNet defaults to norm_eval=True: set it even when absent
    if 'norm_eval' in backbone or 'norm_eval' in params:
        backbone['norm_eval'] = False
    if 'zero_init_residual' in params:
        backbone['zero_init_residual'] = False
    return backbone


@MODELS.register_module()
class AIMS(BaseDetector):
    """AIMS: All-Inclusive Multi-Level Segmentation (Sec. 3 of the paper).

    The detector only orchestrates; every loss is computed in the heads::

        image -> backbone (-> neck) -> pixel_decoder    (image encoder, eq. 1)
              (-> mask_upsampler)                       (optional, finer masks)
              -> + prompt_encoder(prompt)               (MPE, eq. 10-11)
              -> decode_head                            (three decoders + TCM)
              -> association_head                       (AM, eq. 8)
              -> post_processor                         (inference only)

    The pixel decoder is built once and shared by all decoders. It returns
    ``mask_features`` (B, C, H/4, W/4) and ``multi_scale_memorys`` (3 tensors
    at 1/32, 1/16, 1/8, low to high resolution); an optional
    ``mask_upsampler`` (:class:`ImageGuidedMaskUpsampler`) brings the mask
    features to a finer stride (1/2 or 1/1) with the help of the image, so
    that every mask logit is computed there. With ``prompt_encoder`` the
    encoded prompt is added to both (eq. 11) before the decode head;
    ``prompt_encoder=None`` and ``association_head=None`` switch MPE and AM
    off (TCM is a switch of the decode head), giving the Sec. 3.1 baseline
    when all three are off.

    **One-step inference** (:meth:`predict`): every decoder with the prompt
    of the sample (the data preprocessor gives a full-image prompt when the
    sample has none), each decoder's masks reported as the level of the same
    name, plus entity-part and relation-entity links. A sample whose
    ``metainfo['task']['prompt_type']`` is a key of
    ``test_cfg['prompt_decoders']`` is predicted in prompt mode instead.

    **Prompt inference**: compute the image features once with
    :meth:`extract_feat`, then call :meth:`predict_prompt` for any number of
    prompts::

        feats = model.extract_feat(inputs)
        samples = model.predict_prompt(feats, entity_mask, 'part',
                                       data_samples)
        samples = model.predict_prompt(feats, two_entity_mask, None,
                                       data_samples,
                                       prompt_type='two_entities')

    The prompt is a binary mask of any size with the aspect of the original
    image; it is resized to the network input here. The masks of the chosen
    decoder are clipped to the prompt and stored in the field of the level
    ``test_cfg['prompt_output_levels'][decoder]``. ``rough=True`` says a
    prompt was drawn (a box, a loose mask, strokes) rather than picked; an
    MPE with ``rough_flag`` reads it (the ``prompt_rough`` metainfo of a
    training sample, the ``rough`` of a drill-down prompt), others ignore
    it.

    ``test_cfg`` keys used here (the post-processing keys are listed in
    :class:`AIMSPostProcessor`):

    - ``prompt_decoders`` (dict): prompt type -> decoder. Default
      ``dict(one_entity='part', two_entities='relation')``, the paper's use:
      one entity is split into its parts by the part decoder, two entities
      in contact (a relation) into the two entities by the relation decoder.
    - ``prompt_output_levels`` (dict): decoder -> level its prompt-mode
      masks are reported as. Default ``part -> part``, ``entity -> entity``,
      ``relation -> entity`` (the relation decoder under a two-entity prompt
      yields entities, as it is trained: sample type 8).
    - ``prompt_batch_size`` (int): prompts of one image run through the
      decoders together by :meth:`predict_prompts`. Default 16.
    - ``prompt_decoder_subset`` (str): which decoders a prompt-mode pass
      runs. ``'all'``: every decoder with every TCM pair, as in training;
      ``'coupled'`` (default, chosen by measurement, README "Speed"): the
      prompt's decoder and the decoders the TCM couples with it (entity ->
      parts: part and entity, without the relation decoder and its TCM);
      ``'own'``: the prompt's decoder alone, without TCM. The outputs of
      the decoders not reported are never used, but through the TCM they
      change the reported one: the choice
      is measured in README, "Speed". One-step inference always runs all
      decoders. The association module is skipped whenever no sample of
      the pass reports two levels (prompt mode never does).
    - ``prompt_snap`` (bool): :meth:`predict_prompts` (the API, the page,
      drill-down evaluation) first replaces each one-entity / two-entity
      prompt by the one-step entity / relation mask with the highest IoU
      with it (:func:`mmaims.structures.prompt_geometry.snap_prompt`), for
      rough prompts: a box, a loose lasso, strokes. Costs one one-step
      decoder pass per image unless the caller passes it. The result's
      ``prompt_mask`` is the prompt used, its metainfo ``prompt_snap_iou``
      the IoU (None: nothing overlapped, the prompt was kept). Default
      False (docs/inference.md, "Rough prompts").

    **Drill-down evaluation**: a sample whose metainfo has
    ``drill_down_prompts`` (:class:`mmaims.datasets.transforms.
    LoadDrillDownPrompts`) also gets, after its one-step prediction, the
    output of each of those prompts in ``pred_prompted_instances``
    (docs/data_sample.md section 2), computed on the same image features.
    A model without MPE skips them: its prompts would not condition the
    decoders, and the metric then scores only the one-step reference.

    Args:
        backbone (dict): Backbone config (mmdet ``SwinTransformer``,
            ``ResNet``, ...).
        pixel_decoder (dict): Pixel decoder config (mmdet
            ``MSDeformAttnPixelDecoder`` with its ``in_channels``,
            ``strides``, ``feat_channels``, ``out_channels``). Its widths
            are the model's: :func:`fill_widths` derives every other
            channel width left out of the config from them.
        decode_head (dict): ``MultiLevelDecoderHead`` config; it receives
            ``train_cfg`` and ``test_cfg``.
        neck (dict, optional): Optional neck between backbone and pixel
            decoder.
        prompt_encoder (dict, optional): ``MaskPromptEncoder`` config;
            None switches MPE off.
        association_head (dict, optional): ``AssociationHead`` config; None
            switches AM off (links then come from mask overlap).
        mask_upsampler (dict, optional): ``ImageGuidedMaskUpsampler``
            config: mask features (and so mask logits) at a finer stride
            than the pixel decoder's 1/4. Not part of the paper; None (the
            default) keeps the paper's 1/4.
        post_processor (dict): Post-processing config; it receives
            ``test_cfg``. Defaults to ``AIMSPostProcessor``.
        from_scratch (bool): Train the backbone from random weights on
            purpose. The backbone config is then changed so that it can
            learn from scratch: no ``init_cfg`` (random init), norm layers
            trainable (``norm_cfg.requires_grad=True``,
            ``norm_eval=False``) and, for backbones that have it,
            ``zero_init_residual=False`` (no residual block starts as the
            identity). Without it, :class:`TrainSetupCheckHook` stops a
            training run that has neither backbone weights
            (``init_cfg=dict(type='Pretrained', ...)``) nor ``load_from`` /
            ``resume``. Defaults to False.
        train_cfg (dict, optional): Training config of the decode head.
        test_cfg (dict, optional): See above.
        data_preprocessor (dict, optional): ``AIMSDataPreprocessor`` config.
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(self,
                 backbone: ConfigType,
                 pixel_decoder: ConfigType,
                 decode_head: ConfigType,
                 neck: OptConfigType = None,
                 prompt_encoder: OptConfigType = None,
                 association_head: OptConfigType = None,
                 mask_upsampler: OptConfigType = None,
                 post_processor: ConfigType = dict(type='AIMSPostProcessor'),
                 from_scratch: bool = False,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        widths = fill_widths(
            dict(
                pixel_decoder=pixel_decoder,
                decode_head=decode_head,
                prompt_encoder=prompt_encoder,
                association_head=association_head,
                mask_upsampler=mask_upsampler))
        pixel_decoder, decode_head, prompt_encoder, association_head = (
            widths['pixel_decoder'], widths['decode_head'],
            widths['prompt_encoder'], widths['association_head'])
        mask_upsampler = widths['mask_upsampler']
        self.from_scratch = from_scratch
        if from_scratch:
            backbone = scratch_backbone_cfg(backbone)
        self.backbone = MODELS.build(backbone)
        if neck is not None:
            self.neck = MODELS.build(neck)
        self.pixel_decoder = MODELS.build(pixel_decoder)
        self.mask_upsampler = MODELS.build(
            mask_upsampler) if mask_upsampler is not None else None
        self.prompt_encoder = MODELS.build(
            prompt_encoder) if prompt_encoder is not None else None

        decode_head = copy.deepcopy(decode_head)
        decode_head.update(train_cfg=train_cfg, test_cfg=test_cfg)
        self.decode_head = MODELS.build(decode_head)

        self.association_head = MODELS.build(
            association_head) if association_head is not None else None

        post_processor = copy.deepcopy(post_processor)
        post_processor.update(test_cfg=test_cfg)
        self.post_processor = MODELS.build(post_processor)

        self.train_cfg = train_cfg
        self.test_cfg = dict() if test_cfg is None else test_cfg
        self.prompt_decoders = dict(
            self.test_cfg.get('prompt_decoders', DEFAULT_PROMPT_DECODERS))
        self.prompt_output_levels = dict(
            self.test_cfg.get('prompt_output_levels',
                              DEFAULT_PROMPT_OUTPUT_LEVELS))
        self.prompt_decoder_subset = self.test_cfg.get(
            'prompt_decoder_subset', 'coupled')
        if self.prompt_decoder_subset not in PROMPT_DECODER_SUBSETS:
            raise ValueError(
                'test_cfg.prompt_decoder_subset must be one of '
                f'{PROMPT_DECODER_SUBSETS}, got '
                f'{self.prompt_decoder_subset!r}')
        self.prompt_snap = self.test_cfg.get('prompt_snap', False)
        if not isinstance(self.prompt_snap, bool):
            raise ValueError('test_cfg.prompt_snap must be True or False, '
                             f'got {self.prompt_snap!r}')
        for decoder, level in self.prompt_output_levels.items():
            if level not in LEVELS:
                raise ValueError(
                    f'test_cfg.prompt_output_levels maps decoder "{decoder}" '
                    f'to unknown level "{level}"; expected one of {LEVELS}')

    @property
    def with_prompt_encoder(self) -> bool:
        """bool: whether the mask prompt encoder (MPE) is on."""
        return self.prompt_encoder is not None

    @property
    def with_association_head(self) -> bool:
        """bool: whether the association module (AM) is on."""
        return self.association_head is not None

    # ------------------------------------------------------------------
    # features
    # ------------------------------------------------------------------
    def extract_feat(self, batch_inputs: Tensor) -> Feats:
        """Image encoder (eq. 1): backbone, optional neck, pixel decoder.

        The result does not depend on any prompt, so it can be computed once
        and reused for any number of prompts (:meth:`predict_prompt`).

        Args:
            batch_inputs (Tensor): Images, shape (B, 3, H, W).

        Returns:
            tuple[Tensor, list[Tensor]]: ``mask_features`` (B, C, H/4, W/4;
            H/s, W/s with a ``mask_upsampler`` of ``out_stride`` s) and
            ``multi_scale_memorys`` (3 tensors (B, C, h_i, w_i), 1/32,
            1/16, 1/8).
        """
        x = self.backbone(batch_inputs)
        if self.with_neck:
            x = self.neck(x)
        mask_features, multi_scale_memorys = self.pixel_decoder(x)
        if self.mask_upsampler is not None:
            mask_features = self.mask_upsampler(mask_features, batch_inputs)
        return mask_features, list(multi_scale_memorys)

    def add_prompt(self,
                   feats: Feats,
                   prompt_masks: Tensor,
                   rough: Optional[Tensor] = None) -> Feats:
        """Add the encoded prompt to the image features (eq. 11).

        Returns new tensors; ``feats`` is not modified, so cached features
        stay valid. Without MPE ``feats`` is returned as is.

        Args:
            feats (tuple[Tensor, list[Tensor]]): From :meth:`extract_feat`.
            prompt_masks (Tensor): Binary prompts (B, 1, H, W) at the padded
                batch input size.
            rough (Tensor, optional): (B, ) which prompts are rough, for an
                MPE with ``rough_flag`` (:meth:`_prompt_flags`); None: none.

        Returns:
            tuple[Tensor, list[Tensor]]: Features with the prompt.
        """
        mask_features, memorys = feats
        if not self.with_prompt_encoder:
            return mask_features, list(memorys)
        sizes = [mask_features.shape[-2:]] + [m.shape[-2:] for m in memorys]
        encoded = self.prompt_encoder(prompt_masks, sizes, rough=rough)
        return mask_features + encoded[0], [
            m + e for m, e in zip(memorys, encoded[1:])
        ]

    @staticmethod
    def _prompt_masks(pad_shape: Tuple[int, int], device: torch.device,
                      batch_data_samples: SampleList) -> Tensor:
        """Stack the samples' padded ``prompt_mask`` to (B, 1, H, W).

        A sample without one (the data preprocessor was bypassed) gets the
        full-image prompt: 1 on ``img_shape``, 0 on the padding
        ``pad_shape``.
        """
        pad_h, pad_w = pad_shape
        prompts = []
        for data_sample in batch_data_samples:
            if 'prompt_mask' in data_sample:
                prompt = data_sample.prompt_mask.data
            else:
                img_h, img_w = data_sample.metainfo.get(
                    'img_shape', (pad_h, pad_w))[:2]
                prompt = torch.zeros((1, pad_h, pad_w), device=device)
                prompt[:, :img_h, :img_w] = 1
            if tuple(prompt.shape[-2:]) != (pad_h, pad_w):
                raise ValueError(
                    f'image {data_sample.metainfo.get("img_id", "?")}: '
                    f'prompt_mask of size {tuple(prompt.shape[-2:])} does '
                    f'not match the batch input {(pad_h, pad_w)}; pad it '
                    'with AIMSDataPreprocessor')
            prompts.append(prompt.to(device).view(1, pad_h, pad_w))
        return torch.stack(prompts).float()

    @staticmethod
    def _prompt_flags(device: torch.device,
                      batch_data_samples: SampleList) -> Tensor:
        """The samples' ``prompt_rough`` metainfo (False where absent) as
        a bool tensor (B, )."""
        return torch.tensor([
            bool(s.metainfo.get(PROMPT_ROUGH_KEY, False))
            for s in batch_data_samples
        ],
                            dtype=torch.bool,
                            device=device)

    # ------------------------------------------------------------------
    # modes
    # ------------------------------------------------------------------
    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Losses of the decode head and, with AM, of the association head.

        Args:
            batch_inputs (Tensor): Images, shape (B, 3, H, W).
            batch_data_samples (list[DetDataSample]): Samples of
                docs/data_sample.md section 1, padded by the preprocessor.

        Returns:
            dict[str, Tensor]: ``{decoder}.loss_*``, ``{decoder}.d{i}.loss_*``
            and, with AM, ``{pair}.loss_assoc``.
        """
        feats = self.extract_feat(batch_inputs)
        prompts = self._prompt_masks(batch_inputs.shape[-2:],
                                     batch_inputs.device, batch_data_samples)
        mask_features, memorys = self.add_prompt(
            feats, prompts,
            self._prompt_flags(batch_inputs.device, batch_data_samples))
        losses, outputs, assignments = self.decode_head.loss(
            mask_features, memorys, batch_data_samples)
        if self.with_association_head:
            losses.update(
                self.association_head.loss(
                    self._query_feats(outputs), assignments,
                    batch_data_samples))
        return losses

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """One-step inference (or prompt inference per sample, see class).

        Args:
            batch_inputs (Tensor): Images, shape (B, 3, H, W).
            batch_data_samples (list[DetDataSample]): Samples with metainfo.
            rescale (bool): Masks at ``ori_shape`` (True) or ``img_shape``.

        Returns:
            list[DetDataSample]: ``batch_data_samples`` with the fields of
            docs/data_sample.md section 2.
        """
        feats = self.extract_feat(batch_inputs)
        samples = self.predict_by_feat(feats, batch_data_samples, rescale)
        if self.with_prompt_encoder and any(
                'drill_down_prompts' in sample.metainfo for sample in samples):
            self._predict_drill_down(feats, samples, rescale)
        return samples

    def _predict_drill_down(self, feats: Feats, data_samples: SampleList,
                            rescale: bool) -> None:
        """Run the ``drill_down_prompts`` of the samples and store their
        output in ``pred_prompted_instances`` (``masks``, ``scores`` and
        ``prompt_index``, the row of the prompt in the metainfo list); each
        prompt's metainfo entry gets the ``decoder`` that split it and the
        ``level`` its masks are. The prompts of the whole batch go through
        the decoders together (:meth:`predict_prompts`), by prompt type."""
        device = feats[0].device
        prompts = [[dict(p) for p in s.metainfo.get('drill_down_prompts', [])]
                   for s in data_samples]
        light = _geometry_copies(data_samples)
        results = [[] for _ in data_samples]
        entries = [(i, row, p) for i, image in enumerate(prompts)
                   for row, p in enumerate(image)]
        for prompt_type in sorted({p['prompt_type'] for _, _, p in entries}):
            group = [e for e in entries if e[2]['prompt_type'] == prompt_type]
            outputs = self.predict_prompts(
                feats,
                light,
                [torch.from_numpy(decode_rle(p['mask'])) for _, _, p in group],
                image_indices=[i for i, _, _ in group],
                prompt_type=prompt_type,
                rescale=rescale,
                references=data_samples,
                rough=[bool(p.get('rough', False)) for _, _, p in group])
            for (i, row, prompt), output in zip(group, outputs):
                decoder = output.metainfo['task']['decoder']
                level = self._prompt_output_level(decoder)
                prompt.update(decoder=decoder, level=level)
                results[i].append((row, output.get(PRED_FIELDS[level])))
        for sample, image_prompts, image_results in zip(
                data_samples, prompts, results):
            if 'drill_down_prompts' not in sample.metainfo:
                continue
            shape = sample.metainfo[
                'ori_shape' if rescale else 'img_shape'][:2]
            parts = [_empty_instances(shape, device)
                     ] + [inst for _, inst in image_results]
            index = [torch.zeros((0, ), dtype=torch.long, device=device)] + [
                torch.full((len(inst), ), row, dtype=torch.long, device=device)
                for row, inst in image_results
            ]
            prompted = InstanceData()
            prompted.masks = torch.cat([p.masks for p in parts])
            prompted.scores = torch.cat([p.scores for p in parts])
            prompted.prompt_index = torch.cat(index)
            sample.set_field(prompted, PROMPTED_FIELD)
            # the decoder of each prompt and the level its masks are
            sample.set_metainfo(dict(drill_down_prompts=image_prompts))

    def predict_prompts(self,
                        feats: Feats,
                        data_samples: Union[DetDataSample, SampleList],
                        prompts: Sequence[PromptLike],
                        decoder: Optional[str] = None,
                        prompt_type: Optional[str] = None,
                        image_indices: Optional[Sequence[int]] = None,
                        rescale: bool = True,
                        batch_size: Optional[int] = None,
                        references: Optional[SampleList] = None,
                        snap: Optional[bool] = None,
                        clip: Optional[str] = None,
                        rough: RoughLike = None) -> SampleList:
        """Prompt inference of many prompts on cached image features.

        The prompts run through the prompt encoder, the decoders and the
        post-processing ``batch_size`` at a time, each on the features of
        its image: the image encoder is not run again, and prompts of
        several images share a decoder pass. With ``test_cfg.prompt_snap``
        each one-entity / two-entity prompt is first snapped to a one-step
        mask (:meth:`snap_prompts`).

        Args:
            feats (tuple[Tensor, list[Tensor]]): From :meth:`extract_feat`
                on the batch ``data_samples`` describe; not modified.
            data_samples (DetDataSample | list[DetDataSample]): The images'
                samples (metainfo); one sample for the features of one
                image.
            prompts (Sequence): Binary masks, see :meth:`predict_prompt`.
            decoder (str, optional): See :meth:`predict_prompt`.
            prompt_type (str, optional): See :meth:`predict_prompt`.
            image_indices (Sequence[int], optional): The image (row of
                ``feats`` and ``data_samples``) of each prompt. May be left
                out for a batch of one image.
            rescale (bool): Masks at ``ori_shape`` (True) or ``img_shape``.
            batch_size (int, optional): Prompts per decoder pass. Defaults
                to ``test_cfg['prompt_batch_size']`` (16).
            references (list[DetDataSample], optional): One-step
                predictions of the images (rows of ``data_samples``) that
                ``prompt_snap`` snaps to; None: computed when needed.
            snap (bool, optional): Snap these prompts or not, whatever
                ``test_cfg.prompt_snap`` says; None: as it says.
            clip (str, optional): See :meth:`predict_prompt`.
            rough (bool | Sequence[bool], optional): See
                :meth:`predict_prompt`; a sequence has one flag per prompt.

        Returns:
            list[DetDataSample]: One sample per prompt, in order, as
            :meth:`predict_prompt` returns them (with ``prompt_snap``, and
            ``prompt_snap_iou`` in their metainfo).
        """
        if isinstance(data_samples, DetDataSample):
            data_samples = [data_samples]
        mask_features, memorys = feats
        if mask_features.shape[0] != len(data_samples):
            raise ValueError(f'{len(data_samples)} data samples for features '
                             f'of a batch of {mask_features.shape[0]}')
        if image_indices is None:
            if len(data_samples) != 1:
                raise ValueError('predict_prompts on a batch of '
                                 f'{len(data_samples)} images needs the '
                                 'image_indices of the prompts')
            image_indices = [0] * len(prompts)
        if len(image_indices) != len(prompts):
            raise ValueError(f'{len(image_indices)} image_indices for '
                             f'{len(prompts)} prompts')
        rough = rough_flags(rough, len(prompts))
        if batch_size is None:
            batch_size = int(self.test_cfg.get('prompt_batch_size', 16))
        if batch_size < 1:
            raise ValueError(f'prompt batch size must be >= 1, got '
                             f'{batch_size}')
        snap_level = self.snap_level(prompt_type, decoder, snap)
        by_entities = self.post_processor.prompt_clip_mode(clip) == 'entities'
        if references is None and (snap_level is not None or by_entities):
            references = self.predict_by_feat(
                feats, _geometry_copies(data_samples), rescale)
        ious = None
        if snap_level is not None:
            prompts, ious = self.snap_prompts(feats, data_samples, prompts,
                                              image_indices, snap_level,
                                              references, rescale)
        outputs: SampleList = []
        for start in range(0, len(prompts), batch_size):
            rows = list(image_indices[start:start + batch_size])
            index = torch.as_tensor(rows, device=mask_features.device)
            chunk_feats = (mask_features[index], [m[index] for m in memorys])
            outputs += self.predict_prompt(
                chunk_feats,
                list(prompts[start:start + batch_size]),
                decoder, [data_samples[i] for i in rows],
                prompt_type=prompt_type,
                rescale=rescale,
                clip=clip,
                references=[references[i] for i in rows]
                if by_entities else None,
                rough=rough[start:start + batch_size])
        if ious is not None:
            for output, iou in zip(outputs, ious):
                output.set_metainfo(dict(prompt_snap_iou=iou))
        return outputs

    def snap_level(self,
                   prompt_type: Optional[str],
                   decoder: Optional[str] = None,
                   snap: Optional[bool] = None) -> Optional[str]:
        """The level whose one-step masks a prompt is snapped to, or None
        when it is not snapped.

        Args:
            prompt_type (str, optional): The prompt's type; None: the
                default of ``decoder``.
            decoder (str, optional): The prompt's decoder.
            snap (bool, optional): Snap or not; None: as
                ``test_cfg.prompt_snap`` says.

        Returns:
            str | None: ``'entity'`` for a one-entity prompt,
            ``'relation'`` for a two-entity one (None for other types, or
            without snapping).
        """
        if not (self.prompt_snap if snap is None else snap):
            return None
        return DRILL_DOWN_PROMPT_LEVELS.get(
            prompt_type or DEFAULT_PROMPT_TYPES.get(decoder))

    def snap_prompts(
        self,
        feats: Feats,
        data_samples: SampleList,
        prompts: Sequence[PromptLike],
        image_indices: Sequence[int],
        level: str,
        references: Optional[SampleList] = None,
        rescale: bool = True
    ) -> Tuple[List[PromptLike], List[Optional[float]]]:
        """Replace each prompt by the one-step mask of ``level`` of its
        image with the highest IoU with it (``test_cfg.prompt_snap``, see
        :func:`mmaims.structures.prompt_geometry.snap_prompt`).

        Args:
            feats (tuple[Tensor, list[Tensor]]): Features of the images.
            data_samples (list[DetDataSample]): The images' samples.
            prompts (Sequence): Binary masks on the original images.
            image_indices (Sequence[int]): The image of each prompt.
            level (str): Level of the masks to snap to.
            references (list[DetDataSample], optional): One-step
                predictions of the images; None: computed here (one decoder
                pass, the image encoder is not run again).
            rescale (bool): Whether ``references`` are at ``ori_shape``.

        Returns:
            tuple[list, list[float | None]]: The prompts to use and the IoU
            of each with the given prompt (None: kept as given).
        """
        if references is None:
            references = self.predict_by_feat(
                feats, _geometry_copies(data_samples), rescale)
        if len(references) != len(data_samples):
            raise ValueError(f'{len(references)} references for '
                             f'{len(data_samples)} images')
        snapped, ious = [], []
        for prompt, row in zip(prompts, image_indices):
            meta = data_samples[row].metainfo
            mask, iou = snap_prompt(
                prompt, references[row].get(PRED_FIELDS[level]).masks,
                f'image {meta.get("img_id", "?")}')
            snapped.append(mask)
            ious.append(iou)
        return snapped, ious

    def entity_clip_regions(self, prompts: Sequence[PromptLike],
                            references: SampleList) -> List[Tensor]:
        """The regions ``prompt_clip='entities'`` cuts the children of
        ``prompts`` to (:func:`mmaims.structures.prompt_geometry.
        entity_clip_region`).

        Args:
            prompts (Sequence): Binary masks on the original images.
            references (list[DetDataSample]): The one-step predictions of
                each prompt's image (its entity masks are used).

        Returns:
            list[Tensor]: Bool ``(h, w)`` region of each prompt.
        """
        margin = self.post_processor.prompt_clip_margin()
        return [
            entity_clip_region(
                prompt,
                reference.get(PRED_FIELDS['entity']).masks, margin,
                f'image {reference.metainfo.get("img_id", "?")}')
            for prompt, reference in zip(prompts, references)
        ]

    def predict_by_feat(self,
                        feats: Feats,
                        batch_data_samples: SampleList,
                        rescale: bool = True) -> SampleList:
        """:meth:`predict` on cached image features.

        ``predict(inputs, samples)`` is ``predict_by_feat(extract_feat(
        inputs), samples)``: an application that keeps the features of an
        image (e.g. :class:`mmaims.apis.AIMSImageSession`) runs one-step
        inference again, or with other samples' prompts, without the
        backbone and pixel decoder.

        Args:
            feats (tuple[Tensor, list[Tensor]]): From :meth:`extract_feat`;
                not modified.
            batch_data_samples (list[DetDataSample]): Samples with metainfo
                (``batch_input_shape`` the padded size the features were
                computed at) and, optionally, a padded ``prompt_mask``.
            rescale (bool): Masks at ``ori_shape`` (True) or ``img_shape``.

        Returns:
            list[DetDataSample]: ``batch_data_samples`` with the fields of
            docs/data_sample.md section 2.
        """
        mask_features = feats[0]
        if len(batch_data_samples) != mask_features.shape[0]:
            raise ValueError(f'{len(batch_data_samples)} data samples for '
                             'features of a batch of '
                             f'{mask_features.shape[0]}')
        pad_shape = batch_data_samples[0].metainfo.get('batch_input_shape')
        if pad_shape is None:
            raise ValueError('the data samples have no "batch_input_shape" '
                             'metainfo (set by the data preprocessor)')
        prompts = self._prompt_masks(
            tuple(pad_shape), mask_features.device, batch_data_samples)
        output_levels = []
        for data_sample in batch_data_samples:
            task = parse_task(data_sample.metainfo)
            if task.prompt_type in self.prompt_decoders:
                decoder = task.decoder or \
                    self.prompt_decoders[task.prompt_type]
                output_levels.append(
                    {decoder: self._prompt_output_level(decoder)})
            else:
                output_levels.append(None)
        return self._predict_with_prompts(feats, prompts, batch_data_samples,
                                          output_levels, rescale)

    def predict_prompt(
            self,
            feats: Feats,
            prompts: Union[PromptLike, Sequence[PromptLike]],
            decoder: Optional[str],
            batch_data_samples: SampleList,
            prompt_type: Optional[str] = None,
            rescale: bool = True,
            clip: Optional[str] = None,
            references: Optional[SampleList] = None,
            rough: RoughLike = None) -> SampleList:
        """Prompt inference on cached image features.

        Args:
            feats (tuple[Tensor, list[Tensor]]): From :meth:`extract_feat` on
                the batch the samples describe; not modified.
            prompts (Tensor | ndarray | BitmapMasks | list): One binary mask
                per image (a single mask is accepted for a batch of one),
                ``(h, w)`` or ``(1, h, w)``, any size with the aspect of the
                original image (``ori_shape``).
            decoder (str, optional): Decoder to use. None: the decoder of
                ``prompt_type`` in ``test_cfg['prompt_decoders']``.
            batch_data_samples (list[DetDataSample]): Samples with metainfo
                (``img_id``, ``ori_shape``, ``img_shape``,
                ``batch_input_shape``, ``flip``...); they are not modified.
            prompt_type (str, optional): ``'one_entity'``,
                ``'two_entities'``, ``'partial'``... recorded in the result's
                ``task`` metainfo and used to pick the decoder when
                ``decoder`` is None.
            rescale (bool): Masks at ``ori_shape`` (True) or ``img_shape``.
            clip (str, optional): How the children are clipped to these
                prompts (a mode of ``test_cfg.prompt_clip``, see
                :class:`AIMSPostProcessor`), whatever ``test_cfg`` says;
                recorded as the samples' ``prompt_clip`` metainfo. None:
                as ``test_cfg`` says.
            references (list[DetDataSample], optional): With
                ``prompt_clip='entities'``, the one-step predictions of the
                images (one per prompt) whose entities the regions are made
                of (:meth:`entity_clip_regions`); None: computed here, one
                one-step pass on ``feats``.
            rough (bool | Sequence[bool], optional): Whether the prompts
                are rough (drawn: a box, a loose mask, strokes) rather than
                exact (e.g. a mask picked from a prediction); one flag for
                all or one per prompt, recorded as the samples'
                ``prompt_rough`` metainfo. Only an MPE with ``rough_flag``
                reads it. None: exact.

        Returns:
            list[DetDataSample]: New samples (metainfo copied, ``task`` set
            to ``dict(sample_type, prompt_type, decoder)``) with
            ``prompt_mask`` (and, with ``'entities'``,
            ``prompt_clip_region``) and the prediction fields; the chosen
            decoder's masks are in the field of its output level, the other
            level fields are empty and there are no links.

        Raises:
            ValueError: Unknown decoder, prompt type or clip mode, wrong
                number of prompts, an empty prompt, or a prompt whose aspect
                does not match the image.
        """
        if prompt_type is not None and prompt_type not in PROMPT_TYPES:
            raise ValueError(f'unknown prompt type {prompt_type!r}; expected '
                             f'one of {PROMPT_TYPES} (paper Table 5)')
        if clip is not None:
            self.post_processor.prompt_clip_mode(clip)  # raises on a bad one
        if not self.with_prompt_encoder:
            warnings.warn(
                'this AIMS model has no mask prompt encoder (MPE): the prompt '
                'does not condition the decoders, so the result is the '
                f'one-step output of the {decoder or prompt_type} decoder '
                'clipped to the prompt')
        if decoder is None:
            if prompt_type not in self.prompt_decoders:
                raise ValueError(
                    f'no decoder given and prompt type {prompt_type!r} is not '
                    'in test_cfg.prompt_decoders '
                    f'{sorted(self.prompt_decoders)}')
            decoder = self.prompt_decoders[prompt_type]
        known = self._decoder_names()
        if known is not None and decoder not in known:
            raise ValueError(f'unknown decoder "{decoder}"; the model has '
                             f'{list(known)}')
        mask_features, memorys = feats
        batch_size = mask_features.shape[0]
        if len(batch_data_samples) != batch_size:
            raise ValueError(f'{len(batch_data_samples)} data samples for '
                             f'features of a batch of {batch_size}')
        if isinstance(prompts, (list, tuple)):
            prompt_list = list(prompts)
        else:
            prompt_list = [prompts]
        if len(prompt_list) != batch_size:
            raise ValueError(f'{len(prompt_list)} prompts for a batch of '
                             f'{batch_size} images; give one per image')
        rough = rough_flags(rough, batch_size)

        clip_regions = None
        if self.post_processor.prompt_clip_mode(clip) == 'entities':
            if references is None:
                references = self.predict_by_feat(
                    feats, _geometry_copies(batch_data_samples), rescale)
            clip_regions = self.entity_clip_regions(prompt_list, references)
        samples = []
        prompt_maps = []
        for row, (prompt, data_sample) in enumerate(
                zip(prompt_list, batch_data_samples)):
            prompt_map = prompt_to_input(prompt, data_sample.metainfo,
                                         mask_features.device)
            sample = DetDataSample(
                metainfo=copy.deepcopy(data_sample.metainfo))
            sample.set_metainfo(
                dict(
                    task=dict(
                        sample_type=sample_type_of(prompt_type, decoder),
                        prompt_type=prompt_type,
                        decoder=decoder)))
            if clip is not None:
                sample.set_metainfo(dict(prompt_clip=clip))
            sample.set_metainfo({PROMPT_ROUGH_KEY: rough[row]})
            sample.prompt_mask = PixelData(data=prompt_map.to(torch.uint8))
            if clip_regions is not None:
                sample.prompt_clip_region = PixelData(
                    data=prompt_to_input(clip_regions[row],
                                         data_sample.metainfo,
                                         mask_features.device).to(torch.uint8))
            samples.append(sample)
            prompt_maps.append(prompt_map)
        prompts_t = torch.stack(prompt_maps).float()
        output_levels = [{
            decoder: self._prompt_output_level(decoder)
        }] * batch_size
        return self._predict_with_prompts((mask_features, memorys), prompts_t,
                                          samples, output_levels, rescale)

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: Optional[SampleList] = None) -> tuple:
        """Network forward without post-processing ('tensor' mode).

        Returns:
            tuple[dict, dict]: The decode head outputs (decoder -> dict of
            ``cls_scores``, ``mask_preds``, ``query_feats``) and the
            association logits (pair key -> (B, Q_parent, Q_child); empty
            without AM).
        """
        if batch_data_samples is None:
            batch_data_samples = [
                DetDataSample(
                    metainfo=dict(
                        img_shape=tuple(batch_inputs.shape[-2:]),
                        batch_input_shape=tuple(batch_inputs.shape[-2:])))
                for _ in range(batch_inputs.shape[0])
            ]
        feats = self.extract_feat(batch_inputs)
        prompts = self._prompt_masks(batch_inputs.shape[-2:],
                                     batch_inputs.device, batch_data_samples)
        mask_features, memorys = self.add_prompt(
            feats, prompts,
            self._prompt_flags(batch_inputs.device, batch_data_samples))
        outputs = self.decode_head(mask_features, memorys, batch_data_samples)
        assoc = self.association_head(self._query_feats(
            outputs)) if self.with_association_head else dict()
        return outputs, assoc

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    def _decoder_names(self) -> Optional[Tuple[str, ...]]:
        names = getattr(self.decode_head, 'decoder_names', None)
        if names is None:
            names = getattr(self.decode_head, 'decoders', None)
        if names is None:
            return None
        return tuple(names)

    def _decoders_to_run(
        self, output_levels: List[Optional[Dict[str, str]]]
    ) -> Optional[Tuple[str, ...]]:
        """The decoders a pass runs (None: all), by
        ``test_cfg.prompt_decoder_subset``; a one-step sample in the batch
        (``None`` output levels) needs all of them."""
        if self.prompt_decoder_subset == 'all' or any(
                levels is None for levels in output_levels):
            return None
        names = set()
        for levels in output_levels:
            for decoder in levels:
                if self.prompt_decoder_subset == 'coupled':
                    names.update(self.decode_head.coupled_decoders(decoder))
                else:
                    names.add(decoder)
        return tuple(sorted(names))

    def _prompt_output_level(self, decoder: str) -> str:
        if decoder not in self.prompt_output_levels:
            raise ValueError(f'decoder "{decoder}" has no entry in '
                             'test_cfg.prompt_output_levels '
                             f'{self.prompt_output_levels}')
        return self.prompt_output_levels[decoder]

    def _query_feats(self, outputs: Dict[str,
                                         DecoderOutput]) -> Dict[str, Tensor]:
        return {d: out.query_feats for d, out in outputs.items()}

    def _predict_with_prompts(self, feats: Feats, prompts: Tensor,
                              batch_data_samples: SampleList,
                              output_levels: List[Optional[Dict[str, str]]],
                              rescale: bool) -> SampleList:
        mask_features, memorys = self.add_prompt(
            feats, prompts,
            self._prompt_flags(prompts.device, batch_data_samples))
        subset = self._decoders_to_run(output_levels)
        # a subset only where asked: custom heads need not take one
        outputs = self.decode_head.predict(
            mask_features, memorys, batch_data_samples,
            **({} if subset is None else dict(decoders=subset)))
        output_levels = [
            levels if levels is not None else {
                d: d
                for d in outputs
            } for levels in output_levels
        ]
        # links need two levels of one sample; prompt mode reports one
        if self.with_association_head and any(
                len(levels) > 1 for levels in output_levels):
            assoc = self.association_head.predict(self._query_feats(outputs))
            pairs = self.association_head.pairs
        else:
            assoc = None
            pairs = DEFAULT_PAIRS
        results = self.post_processor.predict(
            outputs,
            batch_data_samples,
            output_levels,
            prompts,
            assoc_scores=assoc,
            pairs=pairs,
            rescale=rescale)
        return self.add_pred_to_datasample(batch_data_samples, results,
                                           rescale)

    def add_pred_to_datasample(self,
                               data_samples: SampleList,
                               results_list: List[dict],
                               rescale: bool = True) -> SampleList:
        """Store the post-processed results in the samples.

        Every level field and link field of docs/data_sample.md section 2 is
        set; a level or link type that was not predicted for an image is an
        empty ``InstanceData``.

        Args:
            data_samples (list[DetDataSample]): The samples.
            results_list (list[dict]): From :class:`AIMSPostProcessor`.
            rescale (bool): Whether masks are at ``ori_shape``.

        Returns:
            list[DetDataSample]: ``data_samples``, filled.
        """
        for data_sample, result in zip(data_samples, results_list):
            shape = data_sample.metainfo[
                'ori_shape' if rescale else 'img_shape'][:2]
            device = next(self.parameters()).device
            for level, field in PRED_FIELDS.items():
                data_sample.set_field(
                    result.get(level, _empty_instances(shape, device)), field)
            for link in LINK_TYPES:
                data_sample.set_field(
                    result.get(link.key, _empty_links(device)), link.field)
        return data_samples


def _geometry_copies(data_samples: SampleList) -> SampleList:
    """Light copies of the samples: their metainfo (the image geometry)
    without ``task`` and ``drill_down_prompts``, no data fields, so that
    :meth:`AIMS.predict_by_feat` runs them one-step and a prompt pass sets
    its own task."""
    return [
        DetDataSample(
            metainfo={
                k: v
                for k, v in s.metainfo.items()
                if k not in ('task', 'drill_down_prompts')
            }) for s in data_samples
    ]


def _empty_instances(shape: Tuple[int, int],
                     device: torch.device) -> InstanceData:
    instances = InstanceData()
    instances.masks = torch.zeros((0, *shape), dtype=torch.bool, device=device)
    instances.scores = torch.zeros((0, ), device=device)
    instances.labels = torch.zeros((0, ), dtype=torch.long, device=device)
    instances.bboxes = torch.zeros((0, 4), device=device)
    return instances


def _empty_links(device: torch.device) -> InstanceData:
    links = InstanceData()
    links.parent_index = torch.zeros((0, ), dtype=torch.long, device=device)
    links.child_index = torch.zeros((0, ), dtype=torch.long, device=device)
    links.scores = torch.zeros((0, ), device=device)
    return links
