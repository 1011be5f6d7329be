# Copyright (c) mmaims contributors. All rights reserved.
"""Convert mmdet Mask2Former weights (e.g. COCO-entity) into an AIMS
checkpoint for ``load_from``.

The paper initialises AIMS from an entity-segmentation model trained on
COCO-Entity (Sec. 4, "Training settings"). Such a checkpoint is a mmdet
``Mask2Former``: ``backbone.*``, ``panoptic_head.pixel_decoder.*`` and the
rest of ``panoptic_head.*`` (queries, transformer decoder, class and mask
embeddings). This tool maps them onto an AIMS model built from CONFIG:

- ``backbone.*`` stays ``backbone.*``;
- ``panoptic_head.pixel_decoder.*`` becomes the shared ``pixel_decoder.*``;
- the rest of ``panoptic_head.*`` goes to every decoder named with
  ``--decoders`` (default: all three, ``part entity relation``: the paper
  initialises the whole model from COCO-Entity weights), as
  ``decode_head.decoders.{decoder}.*``.

Every converted tensor is checked against the model: one whose shape
differs (e.g. ``cls_embed`` of a 133-class panoptic model, or another
number of queries) is left out, and so is a key the model does not have.
The report lists what was kept, what was left out and why, and which
parts of the model the checkpoint does not initialise (the mask prompt
encoder, the TCM, the association head, decoders not in ``--decoders``).
Nothing is downloaded; the input checkpoint is read weights-only.

Example::

    python tools/model_converters/mask2former_to_aims.py \\
        mask2former_swin-l_coco-entity.pth \\
        checkpoints/aims_swin-l_coco-entity_init.pth \\
        --config configs/aims/aims_swin-l.py

and then train with ``--cfg-options
load_from=checkpoints/aims_swin-l_coco-entity_init.pth``.
"""
import argparse
import os
import os.path as osp
from collections import Counter, OrderedDict
from typing import Mapping

import torch
from mmengine.config import Config, DictAction
from torch import Tensor

from mmaims.registry import MODELS
from mmaims.structures import LEVELS, check_level
from mmaims.utils import load_checkpoint_weights_only, register_all_modules


def parse_args():
    parser = argparse.ArgumentParser(
        description='Convert mmdet Mask2Former weights into an AIMS '
        'checkpoint for load_from')
    parser.add_argument('src', help='mmdet Mask2Former checkpoint')
    parser.add_argument('dst', help='AIMS checkpoint to write')
    parser.add_argument(
        '--config',
        required=True,
        help='AIMS config whose model the weights are checked against')
    parser.add_argument(
        '--decoders',
        nargs='+',
        default=list(LEVELS),
        choices=list(LEVELS),
        help='AIMS decoders that receive the Mask2Former decoder weights '
        '(default: all three, as the paper initialises the whole model)')
    parser.add_argument(
        '--src-prefix',
        default='panoptic_head.',
        help='prefix of the Mask2Former head in the source state dict')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, as in tools/train.py')
    return parser.parse_args()


def convert_mask2former_state_dict(
        state_dict: Mapping[str, Tensor],
        decoder: str = 'entity',
        src_prefix: str = 'panoptic_head.',
        dst_prefix: str = 'decode_head.',
        dst_pixel_decoder_prefix: str = 'pixel_decoder.',
        drop_cls_embed: bool = False) -> 'OrderedDict[str, Tensor]':
    """Map a Mask2Former state dict onto one decoder of an AIMS model.

    Keys ``{src_prefix}pixel_decoder.*`` become
    ``{dst_pixel_decoder_prefix}*`` (the detector's shared pixel
    decoder), other ``{src_prefix}*`` keys become
    ``{dst_prefix}decoders.{decoder}.*``; keys outside ``src_prefix``
    (the backbone) are kept as they are. With ``src_prefix=''`` and
    ``dst_prefix=''`` it converts a bare ``Mask2FormerHead`` state dict
    into this head's keys.

    Args:
        state_dict (Mapping[str, Tensor]): Mask2Former weights, e.g. the
            ``state_dict`` of a COCO-entity checkpoint.
        decoder (str): Decoder receiving the weights. Defaults to
            ``'entity'``.
        src_prefix (str): Prefix of the head in ``state_dict``. Defaults
            to ``'panoptic_head.'`` (mmdet's ``MaskFormer``).
        dst_prefix (str): Prefix of the decode head in the target model.
            Defaults to ``'decode_head.'``.
        dst_pixel_decoder_prefix (str): Prefix of the pixel decoder in
            the target model. Defaults to ``'pixel_decoder.'``.
        drop_cls_embed (bool): Leave out ``cls_embed`` (for a checkpoint
            trained with classes; ours has 2 logits). Defaults to False.

    Returns:
        OrderedDict[str, Tensor]: The converted state dict.
    """
    check_level(decoder, 'convert_mask2former_state_dict')
    converted = OrderedDict()
    pixel_prefix = f'{src_prefix}pixel_decoder.'
    for key, value in state_dict.items():
        if key.startswith(pixel_prefix):
            new_key = dst_pixel_decoder_prefix + key[len(pixel_prefix):]
        elif key.startswith(src_prefix):
            rest = key[len(src_prefix):]
            if drop_cls_embed and rest.startswith('cls_embed.'):
                continue
            new_key = f'{dst_prefix}decoders.{decoder}.{rest}'
        else:
            new_key = key
        if new_key in converted:
            raise KeyError(f'convert_mask2former_state_dict: two keys '
                           f'map to {new_key}')
        converted[new_key] = value
    return converted


def convert(state_dict, model_state, decoders, src_prefix='panoptic_head.'):
    """Convert a Mask2Former state dict and check it against a model.

    Args:
        state_dict (Mapping[str, Tensor]): Mask2Former weights.
        model_state (Mapping[str, Tensor]): ``state_dict()`` of the AIMS
            model the weights are for (only key names and shapes are used).
        decoders (Sequence[str]): Decoders receiving the head weights.
        src_prefix (str): Prefix of the head in ``state_dict``.

    Returns:
        tuple: ``(converted, report)``; ``converted`` is the state dict to
        save, ``report`` a dict with ``kept`` (int), ``shape_mismatch`` and
        ``not_in_model`` (lists of ``(key, source shape, model shape)`` and
        keys), and ``not_initialised`` (model keys the checkpoint does not
        cover).
    """
    if not any(k.startswith(src_prefix) for k in state_dict):
        raise KeyError(f'no key starts with "{src_prefix}": not a mmdet '
                       'Mask2Former state dict (see --src-prefix)')
    merged = OrderedDict()
    for decoder in decoders:
        part = convert_mask2former_state_dict(
            state_dict, decoder=decoder, src_prefix=src_prefix)
        for key, value in part.items():
            merged.setdefault(key, value)
    converted = OrderedDict()
    shape_mismatch, not_in_model = [], []
    for key, value in merged.items():
        if key not in model_state:
            not_in_model.append(key)
        elif tuple(value.shape) != tuple(model_state[key].shape):
            shape_mismatch.append(
                (key, tuple(value.shape), tuple(model_state[key].shape)))
        else:
            converted[key] = value
    not_initialised = [k for k in model_state if k not in converted]
    report = dict(
        kept=len(converted),
        shape_mismatch=shape_mismatch,
        not_in_model=not_in_model,
        not_initialised=not_initialised)
    return converted, report


def _group(key):
    """``decode_head.decoders.part.x`` -> ``decode_head.decoders.part``."""
    parts = key.split('.')
    depth = 3 if key.startswith('decode_head.decoders.') else 2
    return '.'.join(parts[:depth])


def print_report(report, num_read):
    print(f'read {num_read} tensors; kept {report["kept"]}, left out '
          f'{len(report["shape_mismatch"]) + len(report["not_in_model"])}')
    for key, src, dst in report['shape_mismatch']:
        print(f'  left out (shape {src} in the checkpoint, {dst} in the '
              f'model): {key}')
    for key in report['not_in_model']:
        print(f'  left out (not in the model): {key}')
    groups = Counter(_group(k) for k in report['not_initialised'])
    if groups:
        print('not initialised by the checkpoint (keep their init):')
        for group, n in sorted(groups.items()):
            print(f'  {group}: {n} tensors')


def main():
    args = parse_args()
    register_all_modules()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if not osp.isfile(args.src):
        raise FileNotFoundError(f'{args.src}: no such checkpoint')
    checkpoint = load_checkpoint_weights_only(args.src, map_location='cpu')
    state_dict = checkpoint.get('state_dict', checkpoint)
    model = MODELS.build(cfg.model)
    converted, report = convert(state_dict, model.state_dict(),
                                args.decoders, args.src_prefix)
    print_report(report, len(state_dict))
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(
        dict(
            state_dict=converted,
            meta=dict(
                converted_from=osp.basename(args.src),
                decoders=list(args.decoders))), args.dst)
    print(f'wrote {args.dst}')


if __name__ == '__main__':
    main()
