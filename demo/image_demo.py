# Copyright (c) mmaims contributors. All rights reserved.
"""AIMS image demo: masks at every level, their hierarchy, drill-down.

One-step inference (all levels and links)::

    python demo/image_demo.py demo/demo.png aims_r18_synthetic \
        --weights work_dirs/aims_r18_synthetic/iter_XXXX.pth --out-dir out

Prompt inference (split the region of a mask with one decoder)::

    python demo/image_demo.py photo.jpg CONFIG --weights CKPT \
        --prompt car_mask.png --prompt-decoder part --out-dir out
    python demo/image_demo.py photo.jpg CONFIG --weights CKPT \
        --prompt-box 40 60 180 150 --prompt-decoder part --out-dir out

Rough prompts (a box, a loose mask, strokes): a model trained for them
and the clip measured best for that kind of prompt (README table,
docs/inference.md "Rough prompts"), e.g. a box cut at the box, strokes
over an entity cut at them grown by 3 px with the one-step entities mostly
inside, and strokes over two touching entities snapped to the one-step
relation mask first::

    python demo/image_demo.py photo.jpg \
        configs/aims/aims_r18_synthetic_rough_ring_fr.py --weights CKPT \
        --prompt-box 40 60 180 150 --prompt-clip hard
    python demo/image_demo.py photo.jpg \
        configs/aims/aims_r18_synthetic_rough_ring_fr.py --weights CKPT \
        --prompt strokes.png --prompt-rough --prompt-clip entities
    python demo/image_demo.py photo.jpg \
        configs/aims/aims_r18_synthetic_rough_ring_fr.py --weights CKPT \
        --prompt strokes.png --prompt-decoder relation --prompt-snap \
        --prompt-clip margin

CropFormer (entity masks only, no prompts)::

    python demo/image_demo.py photo.jpg \
        configs/cropformer/cropformer_r18_synthetic.py --weights CKPT

For each image ``NAME`` it writes ``OUT/preds/NAME.json`` (prediction file,
docs formats section 2), ``OUT/idmap/NAME_entity.png`` and
``OUT/idmap/NAME_part.png`` (16-bit non-overlapping id maps: pixel value =
mask id of the JSON, 0 = none; docs formats section 2.1),
``OUT/vis/NAME.png`` (all levels with links), ``OUT/vis/NAME_<level>.png``
(one per level), ``OUT/hierarchy/NAME.json`` (relation -> entities -> parts
tree) and ``OUT/hierarchy/NAME.png`` (the tree as a scene graph). INPUT may
be an image, a folder or several of them.

Exit status: 0 when every image was predicted; 1 when some could not be
(the others are still written, the failures are listed at the end); 2 for
bad arguments (unknown level or config, empty or unreadable prompt).
"""
import sys
from argparse import ArgumentParser, BooleanOptionalAction
from typing import List, Optional

from mmengine.config import DictAction

from mmaims.structures import LEVELS
from mmaims.structures.prompt_geometry import PROMPT_CLIP_MODES


def parse_args(argv: Optional[List[str]] = None):
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'inputs', nargs='+', help='image file(s) and/or folder(s)')
    parser.add_argument(
        'model',
        help='config file (an AIMS or a CropFormer config), or config name '
        'of configs/aims (e.g. aims_r18_synthetic)')
    parser.add_argument(
        '--weights',
        help='checkpoint file (without it the weights are random: '
        'only for trying the tool)')
    parser.add_argument('--out-dir', default='outputs', help='output folder')
    parser.add_argument(
        '--levels',
        nargs='+',
        choices=LEVELS,
        help='levels to output (default: all three)')
    prompt = parser.add_mutually_exclusive_group()
    prompt.add_argument(
        '--prompt',
        help='binary mask (PNG, non-zero = inside) for prompt inference; '
        'resized (with a warning) when its size differs from the image')
    prompt.add_argument(
        '--prompt-box',
        nargs=4,
        type=float,
        metavar=('X1', 'Y1', 'X2', 'Y2'),
        help='a box in pixels of the image as the prompt, instead of a '
        'mask')
    parser.add_argument(
        '--prompt-decoder',
        choices=LEVELS,
        help='decoder for --prompt: part (split an entity into parts, '
        'default), relation (split two touching entities), entity (split '
        'a region into entities)')
    parser.add_argument(
        '--prompt-type',
        choices=['one_entity', 'two_entities', 'partial'],
        help='prompt type recorded in the output (default from the '
        'decoder)')
    parser.add_argument(
        '--prompt-rough',
        action='store_true',
        help='the prompt was drawn (a box, a loose mask), not picked from '
        'a prediction; read by models trained with the rough-prompt flag '
        '(aims_r18_synthetic_rough_ring_hr_flag.py) and by --prompt-clip '
        'auto')
    parser.add_argument(
        '--prompt-clip',
        choices=PROMPT_CLIP_MODES + ('auto', ),
        help='where the children are cut (default: the config\'s '
        'test_cfg.prompt_clip): auto cuts at a box or at a mask not marked '
        '--prompt-rough (hard) and as the config says at a rough mask; '
        'docs/inference.md "Rough prompts" measures each')
    parser.add_argument(
        '--prompt-snap',
        action=BooleanOptionalAction,
        help='replace an entity / relation prompt by the one-step mask it '
        'matches best before drilling down (default: the config\'s '
        'test_cfg.prompt_snap); measured for strokes in docs/inference.md '
        '"Rough prompts"')
    parser.add_argument(
        '--device',
        default=None,
        help='device, e.g. cpu or cuda:0 (default: cuda if available)')
    parser.add_argument(
        '--pred-score-thr',
        type=float,
        default=0.3,
        help='masks with a score <= this are not drawn nor put in the '
        'hierarchy or the id maps (the prediction JSON keeps every mask)')
    parser.add_argument(
        '--batch-size', type=int, default=1, help='inference batch size')
    parser.add_argument(
        '--show', action='store_true', help='display the pictures')
    parser.add_argument(
        '--no-save-vis', action='store_true', help='do not write pictures')
    parser.add_argument(
        '--no-save-pred', action='store_true', help='do not write JSON files')
    parser.add_argument(
        '--no-save-idmap',
        action='store_true',
        help='do not write the id-map PNGs')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, as tools/test.py, e.g. '
        'model.test_cfg.prompt_clip_margin=2')
    args = parser.parse_args(argv)
    if args.prompt_box is not None:
        args.prompt = tuple(args.prompt_box)
    if args.prompt is None and (args.prompt_decoder or args.prompt_type
                                or args.prompt_rough or args.prompt_clip
                                or args.prompt_snap is not None):
        parser.error('--prompt-decoder / --prompt-type / --prompt-rough / '
                     '--prompt-clip / --prompt-snap need --prompt or '
                     '--prompt-box')
    if args.prompt is not None and args.levels is not None:
        parser.error('--levels applies to one-step inference; under a '
                     'prompt the output level is the decoder\'s')
    return parser, args


def main(argv: Optional[List[str]] = None) -> int:
    """Run the demo; return the exit status (see the module docstring)."""
    parser, args = parse_args(argv)
    from mmaims.apis import AIMSInferencer
    try:
        model = args.model
        if args.cfg_options:
            model = AIMSInferencer.resolve_config(args.model)
            model.merge_from_dict(args.cfg_options)
        inferencer = AIMSInferencer(model, args.weights, device=args.device)
    except (FileNotFoundError, ValueError) as e:
        parser.error(str(e))
    try:
        results = inferencer(
            args.inputs if len(args.inputs) > 1 else args.inputs[0],
            levels=args.levels,
            prompt=args.prompt,
            prompt_decoder=args.prompt_decoder,
            prompt_type=args.prompt_type,
            prompt_rough=args.prompt_rough,
            prompt_clip=args.prompt_clip,
            prompt_snap=args.prompt_snap,
            batch_size=args.batch_size,
            show=args.show,
            pred_score_thr=args.pred_score_thr,
            no_save_vis=args.no_save_vis,
            no_save_pred=args.no_save_pred,
            no_save_idmap=args.no_save_idmap,
            out_dir=args.out_dir)
    except ValueError as e:
        parser.error(str(e))
    num_ok = len(results['predictions'])
    failures = results['failures']
    print(f'{num_ok} image(s) predicted, results in {args.out_dir}')
    for line in results['skipped']:
        print(f'skipped: {line}')
    if failures:
        print(f'{len(failures)} image(s) failed:', file=sys.stderr)
        for failure in failures:
            print(f'  {failure["error"]}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
