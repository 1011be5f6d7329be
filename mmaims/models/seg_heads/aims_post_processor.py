# Copyright (c) mmaims contributors. All rights reserved.
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmdet.structures import SampleList
from mmdet.utils import OptConfigType, OptMultiConfig
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from mmaims.registry import MODELS
from mmaims.structures import check_level, make_nonoverlap, mask_bboxes
from mmaims.structures.prompt_geometry import (PROMPT_CLIP_MODES,
                                               clip_children, prompt_to_output)
from ..layers import DecoderOutput

LevelValue = Union[int, float, bool, Dict[str, Union[int, float, bool]]]
#: Default of every ``test_cfg`` key the post-processor reads
#: (level-valued: ``max_per_image``, ``score_thr``, ``nonoverlap``).
TEST_CFG_DEFAULTS = dict(
    max_per_image=100,
    score_thr=0.0,
    nonoverlap=False,
    max_links_per_image=100,
    link_score_thr=0.0,
    link_with_mask_scores=True,
    prompt_clip='hard',
    prompt_clip_margin=3)
#: The level-valued keys of :data:`TEST_CFG_DEFAULTS`.
LEVEL_KEYS = ('max_per_image', 'score_thr', 'nonoverlap')


@MODELS.register_module()
class AIMSPostProcessor(BaseModule):
    """Turns the decoder outputs into per-level masks and scored links.

    The counterpart of mmdet's ``MaskFormerFusionHead`` for AIMS; it has no
    parameters and no loss. For every image and every decoder to output
    (the detector says which and as which level):

    1. object probability of each query: ``softmax(cls)[:, 0]`` (the head
       has 2 logits, object / no object), keep the ``max_per_image`` best;
    2. their mask logits are resized to the batch input, cropped to
       ``img_shape`` and, with ``rescale``, resized to ``ori_shape``
       (bilinear, as mmdet's Mask2Former); a pixel is in the mask when its
       logit is > 0 and, with ``prompt_clip='hard'`` (the default), it is
       inside the prompt (prompt inference gives sub-masks of the prompt;
       the full-image prompt changes nothing). ``prompt_clip='margin'``
       clips to the prompt grown by ``prompt_clip_margin`` pixels (a
       square neighbourhood at the output size: a prompt that misses up to
       that many pixels at its border does not cut the children);
       ``prompt_clip='entities'`` clips to that grown prompt united with
       the one-step entities that lie mostly inside it (the sample's
       ``prompt_clip_region``, see :func:`mmaims.structures.
       prompt_geometry.entity_clip_region`: a prompt drawn inside an
       object does not cut its thin pieces);
       ``prompt_clip='inside'`` keeps whole masks at least half inside
       the prompt (a rough prompt that misses a few pixels does not cut
       the parts it touches), and ``'none'`` keeps every mask whole; a
       sample's ``prompt_clip`` metainfo (set per call by
       :meth:`mmaims.models.AIMS.predict_prompts`) overrides the
       ``test_cfg`` mode for that sample;
    3. score = object probability x mean mask probability inside the mask
       (Mask2Former's instance score); masks with score <= ``score_thr``
       and empty masks are dropped;
    4. optional ``nonoverlap``: every pixel keeps only the highest-scoring
       mask covering it (ties: the query ranked first), masks left empty
       are dropped, scores are kept;
    5. results are sorted by decreasing score.

    Links between the kept masks of two output levels (one-step inference):

    - with the association head: its sigmoid score of the query pair;
    - without it (Sec. 3.1 baseline): the fraction of the child mask inside
      the parent mask, ``|P & C| / |C|``, measured on the binarised
      1/4-resolution mask logits inside the image and the prompt;
    - with ``link_with_mask_scores`` the link score is multiplied by the
      parent's and the child's mask scores (links between confident masks
      rank first, which is what AR@K of the metric reads);
    - links with score <= ``link_score_thr`` are dropped and the best
      ``max_links_per_image`` of each type are kept.

    ``test_cfg`` keys (level-valued keys take a value or a dict
    ``{level: value}``; a missing level gets the default):

    - ``max_per_image`` (int | dict): top-k queries per level. Default 100.
    - ``score_thr`` (float | dict): minimum mask score. Default 0.0.
    - ``nonoverlap`` (bool | dict): non-overlapping masks. Default False.
    - ``max_links_per_image`` (int): links kept per type. Default 100.
    - ``link_score_thr`` (float): minimum link score. Default 0.0.
    - ``link_with_mask_scores`` (bool): see above. Default True.
    - ``prompt_clip`` (str): ``'hard'``, ``'margin'``, ``'entities'``,
      ``'inside'`` or ``'none'``, see step 2. Default ``'hard'``.
    - ``prompt_clip_margin`` (int): pixels the prompt grows by with
      ``prompt_clip='margin'`` and ``'entities'``. Default 3.

    Args:
        test_cfg (dict, optional): See above.
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(self,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.test_cfg = dict() if test_cfg is None else dict(test_cfg)

    def _level_cfg(self, key: str, level: str, default: LevelValue):
        value = self.test_cfg.get(key, default)
        if isinstance(value, dict):
            return value.get(level, default)
        return value

    def resolved_test_cfg(self, levels: Sequence[str]) -> dict:
        """Every ``test_cfg`` value the post-processing uses, defaults
        filled in (for a re-implementation outside PyTorch, e.g. the ONNX
        runner of ``tools/deployment``).

        Args:
            levels (Sequence[str]): Levels to resolve the level-valued keys
                for.

        Returns:
            dict: The keys of :data:`TEST_CFG_DEFAULTS`; the level-valued
            ones as ``{level: value}`` for every level of ``levels``.

        Raises:
            ValueError: An unknown ``prompt_clip`` mode.
        """
        types = dict(max_per_image=int, score_thr=float, nonoverlap=bool)
        resolved = {
            key: {
                level:
                types[key](self._level_cfg(key, level, TEST_CFG_DEFAULTS[key]))
                for level in levels
            }
            for key in LEVEL_KEYS
        }
        resolved.update(
            max_links_per_image=int(
                self.test_cfg.get('max_links_per_image',
                                  TEST_CFG_DEFAULTS['max_links_per_image'])),
            link_score_thr=float(
                self.test_cfg.get('link_score_thr',
                                  TEST_CFG_DEFAULTS['link_score_thr'])),
            link_with_mask_scores=bool(
                self.test_cfg.get('link_with_mask_scores',
                                  TEST_CFG_DEFAULTS['link_with_mask_scores'])),
            prompt_clip=self.prompt_clip_mode(),
            prompt_clip_margin=self.prompt_clip_margin())
        return resolved

    def prompt_clip_mode(self, clip: Optional[str] = None) -> str:
        """``clip`` (a per-call choice) or ``test_cfg.prompt_clip``,
        checked."""
        where = 'test_cfg.prompt_clip' if clip is None else 'prompt_clip'
        if clip is None:
            clip = self.test_cfg.get('prompt_clip',
                                     TEST_CFG_DEFAULTS['prompt_clip'])
        if clip not in PROMPT_CLIP_MODES:
            raise ValueError(f'{where} must be one of '
                             f'{PROMPT_CLIP_MODES}, got {clip!r}')
        return clip

    def prompt_clip_margin(self) -> int:
        """``test_cfg.prompt_clip_margin``, checked."""
        margin = self.test_cfg.get('prompt_clip_margin',
                                   TEST_CFG_DEFAULTS['prompt_clip_margin'])
        if isinstance(margin, bool) or not isinstance(margin, int) or \
                margin < 0:
            raise ValueError('test_cfg.prompt_clip_margin must be an int >= '
                             f'0 (pixels), got {margin!r}')
        return margin

    def predict(self,
                head_outputs: Dict[str, DecoderOutput],
                batch_data_samples: SampleList,
                output_levels: Sequence[Dict[str, str]],
                prompt_masks: Tensor,
                assoc_scores: Optional[Dict[str, Tensor]] = None,
                pairs: Sequence[Tuple[str, str, str]] = (),
                rescale: bool = True) -> List[dict]:
        """Post-process a batch.

        Args:
            head_outputs (dict[str, dict]): Decoder name -> ``dict(cls_scores
                =list[Tensor (B, Q, 2)], mask_preds=list[Tensor (B, Q, h,
                w)], ...)``; only the last entries of the lists are used.
            batch_data_samples (list[DetDataSample]): Metainfo
                (``img_shape``, ``ori_shape``, ``batch_input_shape``).
            output_levels (Sequence[dict[str, str]]): Per image, decoder
                name -> level its masks are reported as.
            prompt_masks (Tensor): Binary prompts at the padded batch input
                size, shape (B, 1, H_pad, W_pad).
            assoc_scores (dict[str, Tensor], optional): Pair key -> sigmoid
                association scores (B, Q_parent, Q_child). None: links from
                mask overlap.
            pairs (Sequence[tuple[str, str, str]]): ``(key, parent, child)``
                decoder names of the links to produce.
            rescale (bool): Masks at ``ori_shape`` (True) or ``img_shape``.

        Returns:
            list[dict]: Per image, ``{level: InstanceData(masks (N, H, W)
            bool, scores (N,), labels (N,) zeros, bboxes (N, 4) xyxy)}`` for
            every output level and ``{pair key: InstanceData(parent_index
            (L,), child_index (L,), scores (L,))}`` for every pair whose
            decoders are both output with their own level names.
        """
        results = []
        for i, data_sample in enumerate(batch_data_samples):
            meta = data_sample.metainfo
            levels_map = output_levels[i]
            low_size = next(iter(
                head_outputs.values())).mask_preds[-1].shape[-2:]
            prompt_full, prompt_low = prompt_to_output(prompt_masks[i], meta,
                                                       rescale, low_size)
            if self.prompt_clip_mode(meta.get('prompt_clip')) == 'entities':
                # the children are cut to the region instead of the prompt
                prompt_full = self._entity_region(data_sample, prompt_full,
                                                  rescale, low_size)
            result, kept = dict(), dict()
            for decoder, level in levels_map.items():
                check_level(level, f'output level of decoder "{decoder}"')
                if decoder not in head_outputs:
                    raise KeyError(f'decoder "{decoder}" has no outputs; got '
                                   f'{sorted(head_outputs)}')
                outs = head_outputs[decoder]
                instances, query_inds = self._instances_single(
                    outs.cls_scores[-1][i], outs.mask_preds[-1][i], meta,
                    level, prompt_full, rescale)
                result[level] = instances
                kept[decoder] = query_inds
            for key, parent, child in pairs:
                if levels_map.get(parent) != parent or \
                        levels_map.get(child) != child:
                    continue
                if assoc_scores is not None:
                    pair_scores = assoc_scores[key][i][
                        kept[parent]][:, kept[child]]
                else:
                    pair_scores = self._overlap_scores(
                        head_outputs[parent].mask_preds[-1][i][kept[parent]],
                        head_outputs[child].mask_preds[-1][i][kept[child]],
                        prompt_low)
                result[key] = self._links_single(pair_scores,
                                                 result[parent].scores,
                                                 result[child].scores)
            results.append(result)
        return results

    def _instances_single(self, cls_score: Tensor, mask_pred: Tensor,
                          meta: dict, level: str, prompt: Tensor,
                          rescale: bool) -> Tuple[InstanceData, Tensor]:
        """Masks and scores of one decoder for one image.

        Args:
            cls_score (Tensor): Shape (Q, 2).
            mask_pred (Tensor): Mask logits, shape (Q, h, w), on the padded
                batch grid.
            meta (dict): Image metainfo.
            level (str): Level the masks are reported as (picks the
                level-valued test_cfg entries).
            prompt (Tensor): Bool prompt at the output size.
            rescale (bool): Output at ``ori_shape``.

        Returns:
            tuple[InstanceData, Tensor]: The instances (sorted by score) and
            the query index of every row.
        """
        max_per_image = int(
            self._level_cfg('max_per_image', level,
                            TEST_CFG_DEFAULTS['max_per_image']))
        score_thr = float(
            self._level_cfg('score_thr', level,
                            TEST_CFG_DEFAULTS['score_thr']))
        nonoverlap = bool(
            self._level_cfg('nonoverlap', level,
                            TEST_CFG_DEFAULTS['nonoverlap']))

        obj_scores = F.softmax(cls_score, dim=-1)[:, 0]
        k = min(max_per_image, obj_scores.numel())
        obj_scores, query_inds = obj_scores.topk(k)

        masks = mask_pred[query_inds][None]
        masks = F.interpolate(
            masks,
            size=tuple(meta['batch_input_shape']),
            mode='bilinear',
            align_corners=False)
        img_h, img_w = meta['img_shape'][:2]
        masks = masks[..., :img_h, :img_w]
        if rescale:
            masks = F.interpolate(
                masks,
                size=tuple(meta['ori_shape'][:2]),
                mode='bilinear',
                align_corners=False)
        masks = masks[0]
        binary, inside = clip_children(
            masks > 0, prompt, self.prompt_clip_mode(meta.get('prompt_clip')),
            self.prompt_clip_margin())
        probs = masks.sigmoid() * binary
        mask_scores = probs.flatten(1).sum(1) / (
            binary.flatten(1).sum(1) + 1e-6)
        scores = obj_scores * mask_scores
        keep = (scores > score_thr) & binary.flatten(1).any(1) & inside
        binary, scores, query_inds = binary[keep], scores[keep], query_inds[
            keep]
        order = scores.argsort(descending=True, stable=True)
        binary, scores, query_inds = binary[order], scores[order], query_inds[
            order]
        if nonoverlap and len(scores):
            binary = make_nonoverlap(binary)
            keep = binary.flatten(1).any(1)
            binary, scores, query_inds = binary[keep], scores[keep], \
                query_inds[keep]

        instances = InstanceData()
        instances.masks = binary
        instances.scores = scores
        instances.labels = torch.zeros_like(query_inds)
        instances.bboxes = mask_bboxes(binary)
        return instances, query_inds

    @staticmethod
    def _entity_region(data_sample, prompt_full: Tensor, rescale: bool,
                       low_size: Tuple[int, int]) -> Tensor:
        """The ``prompt_clip='entities'`` region of a sample at the output
        size: its ``prompt_clip_region`` (padded input, set by
        :meth:`mmaims.models.AIMS.predict_prompts`), or the prompt when it
        covers the whole image (one-step inference: nothing to cut)."""
        if 'prompt_clip_region' in data_sample:
            region, _ = prompt_to_output(data_sample.prompt_clip_region.data,
                                         data_sample.metainfo, rescale,
                                         low_size)
            return region
        if bool(prompt_full.all()):
            return prompt_full
        raise ValueError(
            f'image {data_sample.metainfo.get("img_id", "?")}: '
            "prompt_clip='entities' cuts the children to a region made from "
            'the one-step entity masks, which this prompted sample lacks '
            '(prompt_clip_region); prompt through AIMS.predict_prompts, '
            'which computes it')

    @staticmethod
    def _overlap_scores(parent_logits: Tensor, child_logits: Tensor,
                        prompt_low: Tensor) -> Tensor:
        """``|P & C| / |C|`` of binarised low-resolution mask logits.

        Args:
            parent_logits (Tensor): (N_p, h, w).
            child_logits (Tensor): (N_c, h, w).
            prompt_low (Tensor): Bool (h, w), prompt inside the image.

        Returns:
            Tensor: (N_p, N_c) in [0, 1].
        """
        parent = ((parent_logits > 0) & prompt_low).flatten(1).float()
        child = ((child_logits > 0) & prompt_low).flatten(1).float()
        inter = parent @ child.t()
        return inter / child.sum(1).clamp(min=1.0)[None]

    def _links_single(self, pair_scores: Tensor, parent_scores: Tensor,
                      child_scores: Tensor) -> InstanceData:
        """Scored links between the kept masks of two levels.

        Args:
            pair_scores (Tensor): (N_p, N_c) link probabilities of the kept
                masks, rows and columns in the order of the instances.
            parent_scores (Tensor): (N_p,) mask scores.
            child_scores (Tensor): (N_c,) mask scores.

        Returns:
            InstanceData: ``parent_index``, ``child_index`` (int64) and
            ``scores``, sorted by decreasing score.
        """
        max_links = int(
            self.test_cfg.get('max_links_per_image',
                              TEST_CFG_DEFAULTS['max_links_per_image']))
        link_thr = float(
            self.test_cfg.get('link_score_thr',
                              TEST_CFG_DEFAULTS['link_score_thr']))
        if self.test_cfg.get('link_with_mask_scores',
                             TEST_CFG_DEFAULTS['link_with_mask_scores']):
            pair_scores = pair_scores * parent_scores[:, None] * \
                child_scores[None, :]
        flat = pair_scores.flatten()
        keep = torch.nonzero(flat > link_thr).flatten()
        scores = flat[keep]
        order = scores.argsort(descending=True, stable=True)[:max_links]
        keep, scores = keep[order], scores[order]
        num_child = pair_scores.shape[1]
        links = InstanceData()
        links.parent_index = torch.div(
            keep, max(num_child, 1), rounding_mode='floor').long()
        links.child_index = (keep % max(num_child, 1)).long()
        links.scores = scores
        return links
