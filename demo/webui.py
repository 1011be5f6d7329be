# Copyright (c) mmaims contributors. All rights reserved.
"""AIMS interactive drill-down page (Gradio).

One command serves the page::

    python demo/webui.py configs/aims/aims_r18_synthetic.py \
        work_dirs/aims_r18_synthetic/iter_2000.pth --device cpu \
        [--host 127.0.0.1] [--port 7860] [--score-thr 0.3]

Upload an image: its features are computed once and the one-step result
(part, entity and relation masks with their links) is drawn over it, one
level at a time, beside the hierarchy as a collapsible tree. Click a mask to
select the smallest mask of the chosen level under the pointer (its parent
and children are listed); "Drill down" splits it into the next level down
on the cached features (an entity into its parts, a relation into its two
entities). A brushed region, an uploaded mask PNG or a box
``x1, y1, x2, y2`` can be split the same way with a decoder of your choice.
The prediction JSON, the hierarchy JSON and the selected masks as PNG files
can be downloaded.

The logic is :class:`DrillDownApp`, a plain class the tests drive without a
browser; :func:`build_page` lays the Gradio page over it. Gradio is an
optional requirement of the demo (``requirements/demo.txt``).
"""
import functools
import html
import logging
import math
import os
import os.path as osp
import re
import sys
import tempfile
import warnings
from argparse import ArgumentParser
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

import mmaims
from mmaims.apis import AIMSInferencer
from mmaims.apis.aims_image_session import resolve_clip
from mmaims.apis.inputs import load_prompt
from mmaims.apis.outputs import check_decoder, check_promptable
from mmaims.structures import (ENTITY, LEVELS, PART, RELATION, build_hierarchy,
                               decode_rle, hierarchy_edges)
from mmaims.structures.prompt_geometry import fit_prompt
from mmaims.utils import dump_json
from mmaims.visualization import level_colors

logger = logging.getLogger(__name__)

#: a progress callback: fraction done in [0, 1] and what is running
ProgressFn = Callable[[float, str], None]

#: drill-down of a selected mask: its level -> the prompt type it is given
#: as; the model's ``prompt_decoders`` maps the type to a decoder (an
#: entity is split into its parts by the part decoder, a relation into its
#: two entities by the relation decoder)
SELECTION_PROMPT_TYPES = {ENTITY: 'one_entity', RELATION: 'two_entities'}
#: the decoders of free prompts (brush, mask file, box) and what they do
PROMPT_DECODER_CHOICES = (
    ('part: split an entity into its parts', PART),
    ('relation: split two touching entities into the two', RELATION),
    ('entity: split a region into entities', ENTITY),
)
#: (label, clip mode) of the page's clip choice; ``'auto'``
#: (``mmaims.apis.aims_image_session.resolve_clip``) cuts at a box and at
#: a region taken as exact (a selected mask, a mask file), and as the
#: model's ``test_cfg.prompt_clip`` at a brushed one
CLIP_CHOICES = (
    ('by where the region comes from (auto: at a selected mask, a mask '
     "file or a box; a brushed region as the model's test_cfg.prompt_clip)",
     'auto'),
    ('at the region (hard; precise masks, boxes)', 'hard'),
    ('at the region grown by a few pixels (margin; regions drawn inside '
     'the object)', 'margin'),
    ('at the region grown, with the predicted entities mostly inside it '
     '(entities; strokes over an entity, regions drawn inside objects '
     'with thin pieces)', 'entities'),
    ('keep masks mostly inside the region whole (inside)', 'inside'),
    ('nowhere (none)', 'none'),
)
#: outline of the selected mask and of a drill-down prompt (RGB)
HIGHLIGHT = (255, 221, 0)
#: pictures of smaller images are enlarged to about this many pixels on
#: their longer side (an integer factor), so that labels stay readable
DISPLAY_SIZE = 512
#: warnings raised from here are about the input and go to the page
MMAIMS_DIR = osp.dirname(osp.abspath(mmaims.__file__)) + os.sep
DEMO_IMAGE = osp.join(osp.dirname(osp.abspath(__file__)), 'demo.png')

PAGE_CSS = """
.aims-tree details { margin-left: 1em; }
.aims-tree summary { cursor: pointer; }
.aims-tree .aims-leaf { margin-left: 2.2em; }
.aims-swatch { display: inline-block; width: 0.8em; height: 0.8em;
  margin-right: 0.3em; border: 1px solid #444; vertical-align: middle; }
.aims-selected { font-weight: bold; background: rgba(255, 221, 0, 0.35); }
.aims-empty { color: #888; }
"""


class UserInputError(ValueError):
    """Input the page cannot use; its message is shown on the page."""


@dataclass
class PageView:
    """What the page shows after an action.

    Attributes:
        overlay (np.ndarray, optional): The one-step masks of the chosen
            level over the image, RGB, enlarged by
            :attr:`DrillDownApp.display_scale`; None before an image.
        tree_html (str): The hierarchy as nested ``<details>``.
        selection_html (str): The selected mask, its parent and children.
        drill_image (np.ndarray, optional): The last drill-down's masks
            over the image (prompt outlined), RGB, enlarged like
            ``overlay``.
        drill_html (str): The last drill-down's masks, one ``<li
            data-mask-id=...>`` each, in a ``<div class="aims-drill">``
            with ``data-parent-id``, ``data-decoder``, ``data-level`` and
            ``data-count``.
        message (str): What happened, or what was wrong.
        severity (str): ``'info'``, ``'warning'`` (done, with a caveat) or
            ``'error'`` (nothing was done).
        files (list[str]): Files written by :meth:`DrillDownApp.export`.
    """
    overlay: Optional[np.ndarray]
    tree_html: str
    selection_html: str
    drill_image: Optional[np.ndarray]
    drill_html: str
    message: str = ''
    severity: str = 'info'
    files: List[str] = field(default_factory=list)


def _action(method: Callable) -> Callable:
    """Make a page action of a method that changes the state and returns
    a status message: the action returns the :class:`PageView` after it.
    Bad input (a ``ValueError``) becomes the view's message, never an
    exception, and the warnings mmaims raises on the way (image
    conversions, resized prompts, a model without prompt encoder) are
    added to it."""

    @functools.wraps(method)
    def run(self: 'DrillDownApp', *args, **kwargs) -> PageView:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            try:
                message = method(self, *args, **kwargs) or ''
                severity = 'info'
            except ValueError as e:  # UserInputError, ImageLoadError...
                message, severity = str(e), 'error'
        notes = []
        for warning in caught:
            text = str(warning.message)
            if not osp.abspath(warning.filename).startswith(MMAIMS_DIR):
                # library chatter (torch, mmcv...) is not about the input
                logger.debug('warning during a page action: %s', text)
            elif text not in notes:
                notes.append(text)
        if notes:
            message = ' '.join([message] + [f'Note: {n}' for n in notes])
            severity = 'error' if severity == 'error' else 'warning'
        files = self._files
        self._files = []
        return self.view(message.strip(), severity, files)

    return run


class DrillDownApp:
    """The state and the actions of the drill-down page, without Gradio.

    It holds an :class:`AIMSInferencer` and, for the current image, the
    :class:`AIMSImageSession` (image features computed once), the one-step
    prediction, its hierarchy tree, the selected mask and the last
    drill-down. Every action returns a :class:`PageView`; input the page
    cannot use (an unreadable image, an empty brush mask, a bad box...) is
    reported in its ``message`` with ``severity='error'`` instead of being
    raised, and leaves the state as it was.

    Args:
        inferencer (AIMSInferencer): The model.
        score_thr (float): Masks with a score <= this are not drawn, not
            selectable and not in the hierarchy (the prediction JSON keeps
            every mask). Defaults to 0.3.
        out_dir (str, optional): Folder of the downloads. Defaults to a new
            temporary folder.

    Raises:
        ValueError: The inferencer's model is not an AIMS model (CropFormer
            and the entity framework have no drill-down: use
            ``demo/image_demo.py`` for their one-step output).
    """

    def __init__(self,
                 inferencer: AIMSInferencer,
                 score_thr: float = 0.3,
                 out_dir: Optional[str] = None) -> None:
        try:
            check_promptable(inferencer.model)
        except ValueError as e:
            raise ValueError(f'the drill-down page needs an AIMS model: {e}; '
                             'demo/image_demo.py writes their one-step '
                             'output') from e
        self.inferencer = inferencer
        self.score_thr = float(score_thr)
        self.out_dir = out_dir or tempfile.mkdtemp(prefix='mmaims_webui_')
        self.level = ENTITY
        self.session = None
        self.prediction: Optional[dict] = None
        self.tree: Optional[dict] = None
        self.selected: Optional[dict] = None
        self.drill: Optional[dict] = None
        self._image_rgb: Optional[np.ndarray] = None
        self._masks: Dict[int, np.ndarray] = {}
        self._files: List[str] = []

    @classmethod
    def from_config(cls,
                    config: str,
                    checkpoint: Optional[str],
                    device: Optional[str] = None,
                    **kwargs) -> 'DrillDownApp':
        """Build the app from a config (path or name) and a checkpoint.

        Args:
            config (str): Config file, or a config name of configs/aims.
            checkpoint (str, optional): Checkpoint file.
            device (str, optional): ``'cpu'``, ``'cuda:0'``...
            **kwargs: Other arguments of :class:`DrillDownApp`.

        Returns:
            DrillDownApp: The app, with no image yet.
        """
        inferencer = AIMSInferencer(
            config, checkpoint, device=device, show_progress=False)
        return cls(inferencer, **kwargs)

    def fork(self) -> 'DrillDownApp':
        """A new page state (no image) on the same inferencer: one per
        browser tab, so that two tabs do not share an image."""
        return DrillDownApp(self.inferencer, self.score_thr, self.out_dir)

    # ------------------------------------------------------------------
    # state helpers
    # ------------------------------------------------------------------
    @property
    def model(self):
        """nn.Module: The AIMS model."""
        return self.inferencer.model

    @property
    def display_scale(self) -> int:
        """int: Enlargement of the pictures (the page's clicks are in
        enlarged pixels: divide them by this)."""
        if self._image_rgb is None:
            return 1
        return max(1, DISPLAY_SIZE // max(self._image_rgb.shape[:2]))

    def shown_masks(self, level: Optional[str] = None) -> List[dict]:
        """One-step masks above the score threshold, by id.

        Args:
            level (str, optional): Only this level.

        Returns:
            list[dict]: Masks of the prediction dict.
        """
        if self.prediction is None:
            return []
        return [
            m for m in self.prediction['masks']
            if m['score'] > self.score_thr and (
                level is None or m['level'] == level)
        ]

    def mask_array(self, mask_id: int) -> np.ndarray:
        """The ``H x W`` bool mask of a one-step mask id (decoded once)."""
        if mask_id not in self._masks:
            mask = self._mask_by_id(mask_id)
            self._masks[mask_id] = decode_rle(mask['segmentation'])
        return self._masks[mask_id]

    def _mask_by_id(self, mask_id: int) -> dict:
        for mask in self.prediction['masks']:
            if mask['id'] == mask_id:
                return mask
        raise KeyError(f'no mask {mask_id} in the prediction')

    def _need_image(self) -> None:
        if self.session is None:
            raise UserInputError('Load an image first.')

    def _colors(self, masks: Sequence[dict]) -> Dict[int, tuple]:
        """Colour of each mask: its level's family, indexed by rank among
        the shown masks of its level (the tree uses the same)."""
        colors = {}
        for level in LEVELS:
            ids = sorted(m['id'] for m in masks if m['level'] == level)
            for mask_id, color in zip(ids, level_colors(level, len(ids))):
                colors[mask_id] = color
        return colors

    def links_of(self, mask_id: int) -> Tuple[List[tuple], List[tuple]]:
        """Parents and children of a shown mask in the hierarchy tree.

        Args:
            mask_id (int): A mask id of the one-step prediction.

        Returns:
            tuple[list, list]: ``(mask id, link score)`` of its parents (the
            relations of an entity, the entity of a part) and of its
            children (the entities of a relation, the parts of an entity).
        """
        parents, children = [], []
        for parent, child, score in hierarchy_edges(self.tree):
            if child == mask_id:
                parents.append((parent, score))
            if parent == mask_id:
                children.append((child, score))
        return parents, children

    # ------------------------------------------------------------------
    # actions
    # ------------------------------------------------------------------
    @_action
    def load_image(self,
                   source: Union[str, np.ndarray, None],
                   name: Optional[str] = None,
                   progress: Optional[ProgressFn] = None) -> PageView:
        """Read an image, compute its features once, predict all levels.

        Args:
            source (str | np.ndarray): Image path or ``H x W x 3`` BGR
                array.
            name (str, optional): Name in results and file names.
            progress (callable, optional): ``progress(fraction, text)``.

        Returns:
            PageView: The one-step overlay and the hierarchy tree.
        """
        if source is None or (isinstance(source, str) and not source):
            raise UserInputError('No image given: upload an image file.')
        progress = progress or (lambda fraction, text: None)
        progress(0.1, 'Reading the image and computing its features')
        session = self.inferencer.session(source, name)
        progress(0.6, 'One-step inference (all levels and links)')
        prediction = session.predict()
        self.session = session
        self.prediction = prediction
        self._image_rgb = np.ascontiguousarray(session.image[..., ::-1])
        self._masks = {}
        self.selected = None
        self.drill = None
        self._build_tree()
        progress(1.0, 'Done')
        counts = ', '.join(f'{self.tree["num_masks"][lv]} {lv}'
                           for lv in LEVELS)
        return (f'{session.name}: {counts} mask(s) with a score above '
                f'{self.score_thr:g}. Click a mask to select it.')

    def _build_tree(self) -> None:
        self.tree = build_hierarchy(self.prediction, self.score_thr)
        self.tree['image'] = self.prediction['image']

    @_action
    def select_level(self, level: str) -> PageView:
        """Choose the level drawn on the overlay and selected by clicks.

        Args:
            level (str): ``'part'``, ``'entity'`` or ``'relation'``.

        Returns:
            PageView: The overlay of that level.
        """
        if level not in LEVELS:
            raise UserInputError(f'Unknown level "{level}"; choose one of '
                                 f'{", ".join(LEVELS)}.')
        self.level = level
        if self.selected is not None and self.selected['level'] != level:
            self.selected = None
        return f'Showing {level} masks.'

    @_action
    def set_score_thr(self, score_thr: float) -> PageView:
        """Change the score threshold of the drawn and selectable masks.

        Args:
            score_thr (float): The new threshold, in [0, 1].

        Returns:
            PageView: Redrawn with the new threshold.
        """
        score_thr = float(score_thr)
        if not 0 <= score_thr <= 1:
            raise UserInputError(
                f'The score threshold must be in [0, 1], got {score_thr}.')
        self.score_thr = score_thr
        if self.prediction is None:
            return f'Score threshold {score_thr:g}.'
        self._build_tree()
        if self.selected is not None and \
                self.selected['score'] <= score_thr:
            self.selected = None
        if self.drill is not None:
            self._keep_children()
        return f'Score threshold {score_thr:g}.'

    @_action
    def click(self, x: float, y: float) -> PageView:
        """Select the smallest shown mask of the current level at a point.

        Args:
            x (float): Column in pixels of the original image.
            y (float): Row in pixels of the original image.

        Returns:
            PageView: The selected mask highlighted, its parent and children
            listed; the message says when no mask is there.
        """
        self._need_image()
        height, width = self.session.shape
        col, row = int(math.floor(x)), int(math.floor(y))
        if not (0 <= col < width and 0 <= row < height):
            raise UserInputError(f'({x:g}, {y:g}) is outside the image '
                                 f'({width} x {height}).')
        hits = [
            m for m in self.shown_masks(self.level)
            if self.mask_array(m['id'])[row, col]
        ]
        if not hits:
            self.selected = None
            return (f'No {self.level} mask with a score above '
                    f'{self.score_thr:g} at ({col}, {row}); selection '
                    'cleared.')
        self.selected = min(
            hits,
            key=lambda m:
            (int(self.mask_array(m['id']).sum()), -m['score'], m['id']))
        return (f'Selected {self.level} {self.selected["id"]} (the smallest '
                f'of {len(hits)} {self.level} mask(s) at ({col}, {row})).')

    @_action
    def drill_down(self,
                   clip: Optional[str] = None,
                   progress: Optional[ProgressFn] = None) -> PageView:
        """Split the selected mask into the next level down, on the cached
        image features: an entity into its parts, a relation into its
        entities (the model's ``prompt_decoders`` of ``one_entity`` and
        ``two_entities``).

        Args:
            clip (str, optional): See :meth:`drill_down_brush`.
            progress (callable, optional): ``progress(fraction, text)``.

        Returns:
            PageView: With the drill-down's masks drawn and listed.
        """
        self._need_image()
        if self.selected is None:
            raise UserInputError('Select a mask first: click an entity or a '
                                 'relation on the image.')
        level = self.selected['level']
        if level not in SELECTION_PROMPT_TYPES:
            raise UserInputError(
                f'{level} {self.selected["id"]} is a part, the lowest '
                'level: there is nothing to drill into. Select an entity '
                '(-> parts) or a relation (-> entities).')
        prompt_type = SELECTION_PROMPT_TYPES[level]
        decoder = self.model.prompt_decoders.get(prompt_type)
        if decoder is None:
            raise UserInputError(
                f'The model has no decoder for {prompt_type} prompts '
                '(test_cfg.prompt_decoders); cannot drill into a '
                f'{level}.')
        return self._run_prompt(
            self.mask_array(self.selected['id']),
            decoder,
            source='selection',
            parent=self.selected,
            clip=clip,
            progress=progress)

    @_action
    def drill_down_brush(self,
                         editor_value: Any,
                         decoder: str = PART,
                         snap: Optional[bool] = None,
                         clip: Optional[str] = None,
                         progress: Optional[ProgressFn] = None) -> PageView:
        """Split a region brushed over the image.

        Args:
            editor_value (dict | np.ndarray): A Gradio ``ImageEditor`` value
                (``background``, ``layers``, ``composite``; a pixel painted
                on a layer is in the region) or an ``h x w`` mask.
            decoder (str): ``'part'``, ``'relation'`` or ``'entity'``.
            snap (bool, optional): Replace the region by the one-step mask
                it matches best first (``AIMSImageSession.prompt``); None:
                as the model's ``test_cfg.prompt_snap``.
            clip (str, optional): Where the children are cut
                (``AIMSImageSession.prompt``): ``'hard'``, ``'margin'``,
                ``'entities'``, ``'inside'`` or ``'none'``; ``'auto'``: at
                a box or a region taken as exact, as the model's
                ``test_cfg.prompt_clip`` at a brushed one; None: as the
                model's ``test_cfg.prompt_clip``.
            progress (callable, optional): ``progress(fraction, text)``.

        Returns:
            PageView: With the drill-down's masks drawn and listed.
        """
        self._need_image()
        mask = brush_mask(editor_value)
        if mask is None or not mask.any():
            raise UserInputError(
                'The brush mask is empty: paint over the region to split '
                'in the brush editor first.')
        return self._run_prompt(
            mask,
            decoder,
            'brush',
            snap=snap,
            clip=clip,
            rough=True,
            progress=progress)

    @_action
    def drill_down_mask(self,
                        mask: Union[str, np.ndarray, None],
                        decoder: str = PART,
                        snap: Optional[bool] = None,
                        clip: Optional[str] = None,
                        progress: Optional[ProgressFn] = None) -> PageView:
        """Split the region of a mask file or array (non-zero = inside).

        Args:
            mask (str | np.ndarray): PNG path or ``h x w`` array; another
                size than the image is resized with a note.
            decoder (str): ``'part'``, ``'relation'`` or ``'entity'``.
            snap (bool, optional): See :meth:`drill_down_brush`.
            clip (str, optional): See :meth:`drill_down_brush`.
            progress (callable, optional): ``progress(fraction, text)``.

        Returns:
            PageView: With the drill-down's masks drawn and listed.
        """
        self._need_image()
        if mask is None or (isinstance(mask, str) and not mask):
            raise UserInputError('No mask file given: upload a PNG whose '
                                 'non-zero pixels are the region to split.')
        return self._run_prompt(
            mask,
            decoder,
            'mask file',
            snap=snap,
            clip=clip,
            progress=progress)

    @_action
    def drill_down_box(self,
                       box: Union[str, Sequence[float]],
                       decoder: str = PART,
                       snap: Optional[bool] = None,
                       clip: Optional[str] = None,
                       progress: Optional[ProgressFn] = None) -> PageView:
        """Split the pixels of a box.

        Args:
            box (str | Sequence[float]): ``"x1, y1, x2, y2"`` or four
                numbers, in pixels of the original image (``x2``, ``y2``
                exclusive).
            decoder (str): ``'part'``, ``'relation'`` or ``'entity'``.
            snap (bool, optional): See :meth:`drill_down_brush`.
            clip (str, optional): See :meth:`drill_down_brush`.
            progress (callable, optional): ``progress(fraction, text)``.

        Returns:
            PageView: With the drill-down's masks drawn and listed.
        """
        self._need_image()
        return self._run_prompt(
            parse_box(box),
            decoder,
            'box',
            snap=snap,
            clip=clip,
            rough=True,
            progress=progress)

    def _run_prompt(self,
                    prompt: Union[str, np.ndarray, tuple],
                    decoder: str,
                    source: str,
                    parent: Optional[dict] = None,
                    snap: Optional[bool] = None,
                    clip: Optional[str] = None,
                    rough: bool = False,
                    progress: Optional[ProgressFn] = None) -> str:
        """Run one prompt on the session; keep it as the last drill-down.
        A brushed region and a box are drawn (``rough``), a selected mask
        and a mask file are taken as exact."""
        progress = progress or (lambda fraction, text: None)
        check_decoder(decoder, self.model)
        # resolved on the box itself: the session sees it rasterised
        clip = resolve_clip(clip, prompt, rough)
        progress(0.2, f'Drill-down with the {decoder} decoder')
        # the prompt as the session sees it: a box rasterised, a mask of
        # another size resized (with a warning); kept to be drawn
        where = f'{self.session.name}: {source} prompt'
        prompt_mask = fit_prompt(
            load_prompt(prompt, where), self.session.shape, where)
        result = self.session.prompt([prompt_mask],
                                     decoder=decoder,
                                     snap=snap,
                                     clip=clip,
                                     rough=rough)[0]
        self.drill = dict(
            source=source,
            parent=parent,
            decoder=decoder,
            prompt=result['prompt'],
            prompt_mask=prompt_mask,
            result=result)
        self._keep_children()
        children = self.drill['children']
        progress(1.0, 'Done')
        level = result['prompt']['level']
        what = (f'{parent["level"]} {parent["id"]}'
                if parent is not None else f'the {source} region')
        return (f'{what} split by the {decoder} decoder into '
                f'{len(children)} {level} mask(s) with a score above '
                f'{self.score_thr:g} ({len(result["masks"])} in all).')

    def _keep_children(self) -> None:
        """The drill-down's masks above the score threshold, decoded."""
        children = [
            m for m in self.drill['result']['masks']
            if m['score'] > self.score_thr
        ]
        self.drill.update(
            children=children,
            child_masks={
                m['id']: decode_rle(m['segmentation'])
                for m in children
            })

    @_action
    def export(self) -> PageView:
        """Write the downloads to a new folder under :attr:`out_dir`.

        Files (each written atomically): ``NAME.json`` (the one-step
        prediction, docs/formats.md section 2), ``NAME_hierarchy.json``
        (the tree of :func:`build_hierarchy`), ``NAME_<level>_<id>.png``
        (the selected mask, 0 / 255), and after a drill-down
        ``NAME_drill_down.json`` (the prompted prediction) and
        ``NAME_drill_<level>_<id>.png`` (each of its masks above the score
        threshold).

        Returns:
            PageView: With ``files``.
        """
        self._need_image()
        name = re.sub(r'[^A-Za-z0-9_.-]+', '_', self.session.name) or 'image'
        folder = tempfile.mkdtemp(prefix=f'{name}_', dir=self.out_dir)
        files = [osp.join(folder, f'{name}.json')]
        dump_json(self.prediction, files[-1])
        files.append(osp.join(folder, f'{name}_hierarchy.json'))
        dump_json(self.tree, files[-1])
        if self.selected is not None:
            files.append(
                osp.join(
                    folder, f'{name}_{self.selected["level"]}_'
                    f'{self.selected["id"]}.png'))
            write_mask_png(self.mask_array(self.selected['id']), files[-1])
        if self.drill is not None:
            files.append(osp.join(folder, f'{name}_drill_down.json'))
            dump_json(self.drill['result'], files[-1])
            for mask in self.drill['children']:
                files.append(
                    osp.join(folder,
                             f'{name}_drill_{mask["level"]}_{mask["id"]}.png'))
                write_mask_png(self.drill['child_masks'][mask['id']],
                               files[-1])
        self._files = files
        return f'{len(files)} file(s) ready to download.'

    # ------------------------------------------------------------------
    # rendering
    # ------------------------------------------------------------------
    def view(self,
             message: str = '',
             severity: str = 'info',
             files: Optional[List[str]] = None) -> PageView:
        """Render the current state.

        Args:
            message (str): Status message.
            severity (str): ``'info'``, ``'warning'`` or ``'error'``.
            files (list[str], optional): Downloads to offer.

        Returns:
            PageView: Everything the page shows.
        """
        return PageView(
            overlay=self.render_overlay(),
            tree_html=self.render_tree(),
            selection_html=self.render_selection(),
            drill_image=self.render_drill(),
            drill_html=self.render_drill_list(),
            message=message,
            severity=severity,
            files=list(files or []))

    def render_overlay(self) -> Optional[np.ndarray]:
        """The shown masks of the current level over the image, the
        selected one highlighted (the others dimmed)."""
        if self._image_rgb is None:
            return None
        masks = self.shown_masks(self.level)
        colors = self._colors(self.shown_masks())
        highlight = self.selected['id'] if self.selected else None
        return draw_masks(
            self._image_rgb,
            [(m['id'], self.mask_array(m['id']), colors[m['id']])
             for m in masks],
            self.display_scale,
            highlight=highlight)

    def render_drill(self) -> Optional[np.ndarray]:
        """The last drill-down's masks over the image, prompt outlined."""
        if self._image_rgb is None or self.drill is None:
            return None
        children = self.drill['children']
        colors = self._colors(children)
        return draw_masks(
            self._image_rgb,
            [(m['id'], self.drill['child_masks'][m['id']], colors[m['id']])
             for m in children],
            self.display_scale,
            prompt=self.drill['prompt_mask'])

    def render_tree(self) -> str:
        """The hierarchy tree as nested ``<details>`` (relations, entities
        in no relation, parts in no entity), each node with
        ``data-mask-id`` and ``data-level``; the selected node is marked."""
        if self.tree is None:
            return ('<div class="aims-tree aims-empty">No image yet: upload '
                    'one.</div>')
        tree = self.tree
        colors = self._colors(self.shown_masks())
        selected = self.selected['id'] if self.selected else None

        def label(node: dict) -> str:
            color = colors.get(node['id'], (128, 128, 128))
            link = (f', link {node["link_score"]:.2f}'
                    if 'link_score' in node else '')
            mark = ' aims-selected' if node['id'] == selected else ''
            return (f'<span class="aims-node{mark}">'
                    '<span class="aims-swatch" style="background: '
                    f'rgb{tuple(color)}"></span>{node["level"]} '
                    f'{node["id"]} (score {node["score"]:.2f}, '
                    f'{node["area"]} px{link})</span>')

        def leaf(node: dict) -> str:
            return (f'<div class="aims-leaf" data-mask-id="{node["id"]}" '
                    f'data-level="{node["level"]}">{label(node)}</div>')

        def branch(node: dict, children: List[dict],
                   child_html: Callable[[dict], str]) -> str:
            if not children:
                return leaf(node)
            inner = ''.join(child_html(c) for c in children)
            return (f'<details open data-mask-id="{node["id"]}" '
                    f'data-level="{node["level"]}"><summary>{label(node)}'
                    f'</summary>{inner}</details>')

        def entity(node: dict) -> str:
            return branch(node, node['parts'], leaf)

        def relation(node: dict) -> str:
            return branch(node, node['entities'], entity)

        sections = [
            ('Relations', tree['relations'], relation),
            ('Entities in no relation', tree['entities'], entity),
            ('Parts in no entity', tree['parts'], leaf),
        ]
        counts = ', '.join(f'{tree["num_masks"][lv]} {lv}' for lv in LEVELS)
        out = [
            f'<div class="aims-tree" data-image="'
            f'{html.escape(str(tree["image"]))}">'
            f'<div>{html.escape(osp.basename(str(tree["image"])))}: {counts}'
            f' (score &gt; {self.score_thr:g})</div>'
        ]
        for title, nodes, render in sections:
            body = ''.join(render(n) for n in nodes) or \
                '<div class="aims-empty">none</div>'
            out.append(f'<details open><summary>{title} ({len(nodes)})'
                       f'</summary>{body}</details>')
        out.append('</div>')
        return ''.join(out)

    def render_selection(self) -> str:
        """The selected mask, its parents and children (from the tree)."""
        if self.selected is None:
            return ('<div class="aims-selection aims-empty">No mask selected:'
                    ' click the image.</div>')
        mask = self.selected
        area = int(self.mask_array(mask['id']).sum())
        parents, children = self.links_of(mask['id'])

        def items(pairs: List[tuple]) -> str:
            if not pairs:
                return '<span class="aims-empty">none</span>'
            return ', '.join(
                f'<span data-mask-id="{i}">'
                f'{self._mask_by_id(i)["level"]} {i} (link {s:.2f})</span>'
                for i, s in pairs)

        return (f'<div class="aims-selection" data-mask-id="{mask["id"]}" '
                f'data-level="{mask["level"]}"><b>{mask["level"]} '
                f'{mask["id"]}</b>: score {mask["score"]:.2f}, {area} px'
                f'<div class="aims-parents">Parent(s): {items(parents)}</div>'
                f'<div class="aims-children">Children: {items(children)}'
                '</div></div>')

    def render_drill_list(self) -> str:
        """The last drill-down's masks as a list with data attributes."""
        if self.drill is None:
            return ('<div class="aims-drill aims-empty">No drill-down yet: '
                    'select an entity or a relation and press "Drill down".'
                    '</div>')
        drill = self.drill
        parent = drill['parent']
        level = drill['prompt']['level']
        colors = self._colors(drill['children'])
        what = (f'{parent["level"]} {parent["id"]}'
                if parent is not None else f'{drill["source"]} region')
        rows = ''.join(
            f'<li data-mask-id="{m["id"]}" data-level="{m["level"]}" '
            f'data-score="{m["score"]:.4f}"><span class="aims-swatch" '
            f'style="background: rgb{tuple(colors[m["id"]])}"></span>'
            f'{m["level"]} {m["id"]} (score {m["score"]:.2f}, '
            f'{int(drill["child_masks"][m["id"]].sum())} px)</li>'
            for m in drill['children'])
        parent_id = parent['id'] if parent is not None else ''
        return (f'<div class="aims-drill" data-parent-id="{parent_id}" '
                f'data-source="{html.escape(drill["source"])}" '
                f'data-decoder="{drill["decoder"]}" data-level="{level}" '
                f'data-count="{len(drill["children"])}">'
                f'<div>{html.escape(what)} -&gt; {len(drill["children"])} '
                f'{level} mask(s) ({drill["decoder"]} decoder, score &gt; '
                f'{self.score_thr:g})</div><ul>{rows}</ul></div>')


# ----------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------
def parse_box(box: Union[str, Sequence[float]]) -> Tuple[float, ...]:
    """Read a box ``x1, y1, x2, y2`` (commas and/or spaces).

    Raises:
        UserInputError: Not four numbers.
    """
    if isinstance(box, str):
        parts = [p for p in re.split(r'[\s,;()\[\]]+', box) if p]
    else:
        parts = list(box)
    try:
        values = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise UserInputError(
            f'A box is four numbers "x1, y1, x2, y2" in pixels of the image, '
            f'got "{box}".')
    return values


def brush_mask(editor_value: Any) -> Optional[np.ndarray]:
    """The painted region of a Gradio ``ImageEditor`` value.

    A pixel is in the region when it is painted on any layer (alpha > 0 of
    an RGBA layer, any non-zero channel otherwise). Without layers, the
    pixels where ``composite`` differs from ``background``.

    Args:
        editor_value (dict | np.ndarray | None): The editor value, or an
            ``h x w`` mask.

    Returns:
        np.ndarray | None: ``h x w`` bool mask, None when nothing is there.
    """
    if editor_value is None:
        return None
    if isinstance(editor_value, np.ndarray):
        return np.asarray(editor_value).astype(bool) if \
            editor_value.ndim == 2 else _painted(editor_value)
    layers = [
        np.asarray(layer) for layer in (editor_value.get('layers') or [])
        if layer is not None
    ]
    if layers:
        mask = _painted(layers[0])
        for layer in layers[1:]:
            painted = _painted(layer)
            if painted.shape == mask.shape:
                mask |= painted
        return mask
    composite = editor_value.get('composite')
    background = editor_value.get('background')
    if composite is None or background is None:
        return None
    composite, background = np.asarray(composite), np.asarray(background)
    if composite.shape != background.shape:
        return None
    diff = composite != background
    return diff.any(axis=2) if diff.ndim == 3 else diff


def _painted(layer: np.ndarray) -> np.ndarray:
    if layer.ndim == 3 and layer.shape[2] == 4:
        return layer[..., 3] > 0
    if layer.ndim == 3:
        return layer.max(axis=2) > 0
    return layer > 0


def write_mask_png(mask: np.ndarray, path: str) -> None:
    """Write a bool mask as a 0 / 255 PNG, atomically (a temporary file
    beside ``path``, then one ``os.replace``)."""
    ok, data = cv2.imencode('.png', mask.astype(np.uint8) * 255)
    if not ok:
        raise OSError(f'{path}: could not encode the mask as PNG')
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data.tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def _put_label(canvas: np.ndarray, text: str, center: Tuple[float, float],
               scale: float, placed: List[tuple]) -> None:
    """Write ``text`` centred on ``center``, moved down (then up) out of
    the boxes of the labels already ``placed``, which it joins."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), _ = cv2.getTextSize(text, font, scale, 1)
    x0, y0 = int(center[0] - tw / 2), int(center[1] - th / 2)
    for step in (0, 1, -1, 2, -2, 3, -3):
        y = y0 + step * (th + 4)
        box = (x0 - 2, y - 2, x0 + tw + 2, y + th + 2)
        if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3]
                   and b[1] < box[3] for b in placed):
            break
    placed.append(box)
    org = (x0, y + th)
    cv2.putText(canvas, text, org, font, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(canvas, text, org, font, scale, (255, 255, 255), 1,
                cv2.LINE_AA)


def draw_masks(image: np.ndarray,
               masks: Sequence[Tuple[int, np.ndarray, tuple]],
               scale: int = 1,
               highlight: Optional[int] = None,
               prompt: Optional[np.ndarray] = None,
               alpha: float = 0.45) -> np.ndarray:
    """Masks over an image, outlined and labelled with their ids.

    Args:
        image (np.ndarray): ``H x W x 3`` RGB uint8.
        masks (Sequence[tuple]): ``(id, H x W bool mask, RGB colour)``.
        scale (int): Integer enlargement of the picture.
        highlight (int, optional): Id drawn opaque with a thick yellow
            outline, the others dimmed.
        prompt (np.ndarray, optional): ``H x W`` bool prompt, outlined in
            yellow.
        alpha (float): Opacity of the masks.

    Returns:
        np.ndarray: ``(H * scale) x (W * scale) x 3`` RGB uint8.
    """
    height, width = image.shape[:2]
    canvas = image.astype(np.float32)
    # large masks first, so that small ones stay visible on top
    order = sorted(masks, key=lambda item: -int(item[1].sum()))
    for mask_id, mask, color in order:
        a = alpha if highlight is None else (
            0.75 if mask_id == highlight else 0.15)
        canvas[mask] = canvas[mask] * (1 - a) + np.asarray(color) * a
    canvas = canvas.round().clip(0, 255).astype(np.uint8)
    size = (width * scale, height * scale)
    canvas = np.ascontiguousarray(
        cv2.resize(canvas, size, interpolation=cv2.INTER_NEAREST))

    def outline(mask: np.ndarray, color: tuple, thickness: int) -> None:
        big = cv2.resize(
            mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(canvas, contours, -1, tuple(int(c) for c in color),
                         thickness)

    for mask_id, mask, color in order:
        if mask_id != highlight:
            outline(mask, color, 1)
    for mask_id, mask, _ in order:
        if mask_id == highlight:
            outline(mask, HIGHLIGHT, max(2, scale // 2 + 1))
    if prompt is not None:
        outline(prompt, HIGHLIGHT, max(2, scale // 2 + 1))
    font_scale = max(0.35, 0.12 * scale + 0.25)
    placed: List[tuple] = []
    for mask_id, mask, _ in order:
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            continue
        # the mask pixel nearest to the centroid: on the mask even when
        # the mask is not convex
        cx, cy = xs.mean(), ys.mean()
        k = int(np.argmin((xs - cx)**2 + (ys - cy)**2))
        _put_label(canvas, str(mask_id),
                   ((xs[k] + 0.5) * scale, (ys[k] + 0.5) * scale), font_scale,
                   placed)
    return canvas


# ----------------------------------------------------------------------
# the page
# ----------------------------------------------------------------------
def build_page(app: DrillDownApp):
    """Lay the Gradio page over an app.

    Each browser tab gets its own page state (:meth:`DrillDownApp.fork`)
    on the shared model; events run one at a time (launch it after
    ``page.queue(default_concurrency_limit=1)``, as :func:`launch_page`
    does).

    Element ids, for scripts and the browser test: ``upload`` (image
    file), ``load-demo``, ``level``, ``score-thr``, ``overlay`` (click it),
    ``drill-down``, ``selection``, ``hierarchy``, ``drill-image``,
    ``drill-result``, ``brush``, ``mask-upload``, ``box``,
    ``prompt-decoder``, ``snap``, ``drill-brush``, ``drill-mask``,
    ``drill-box``,
    ``export``, ``downloads``, ``status``.

    Args:
        app (DrillDownApp): The app whose model the page uses.

    Returns:
        gradio.Blocks: The page (not launched).
    """
    import gradio as gr

    def page_of(state: Optional[DrillDownApp]) -> DrillDownApp:
        return state if state is not None else app.fork()

    def progress_fn(progress) -> ProgressFn:
        return lambda fraction, text: progress(fraction, desc=text)

    def run(page: DrillDownApp, action: Callable[[], PageView]) -> PageView:
        try:
            view = action()
        except Exception as e:  # noqa: BLE001
            # a bug, not bad input: the trace goes to the server log, the
            # page gets one line
            logger.exception('drill-down page: action failed')
            view = page.view(
                f'Internal error ({type(e).__name__}: {e}); the server log '
                'has the details.', 'error')
        if view.severity != 'info':
            gr.Warning(view.message)
        return view

    def status(view: PageView) -> str:
        prefix = {
            'error': '**Error:** ',
            'warning': '**Warning:** '
        }.get(view.severity, '')
        return prefix + view.message

    def outputs(page: DrillDownApp, view: PageView) -> list:
        return [
            page, view.overlay, view.tree_html, view.selection_html,
            view.drill_image, view.drill_html,
            status(view)
        ]

    def editor_value(page: DrillDownApp) -> Optional[dict]:
        if page._image_rgb is None:
            return None
        return dict(
            background=page._image_rgb, layers=[], composite=page._image_rgb)

    def on_upload(state, path, progress=gr.Progress()):
        page = page_of(state)
        view = run(
            page,
            lambda: page.load_image(path, progress=progress_fn(progress)))
        return outputs(page, view) + [editor_value(page)]

    def on_demo(state, progress=gr.Progress()):
        return on_upload(state, DEMO_IMAGE, progress)

    def on_level(state, level):
        page = page_of(state)
        return outputs(page, run(page, lambda: page.select_level(level)))

    def on_score_thr(state, score_thr):
        page = page_of(state)
        return outputs(page, run(page, lambda: page.set_score_thr(score_thr)))

    def on_click(state, evt: gr.SelectData):
        page = page_of(state)
        scale = page.display_scale
        x, y = evt.index[0], evt.index[1]
        return outputs(
            page,
            run(page, lambda: page.click((x + 0.5) / scale,
                                         (y + 0.5) / scale)))

    def on_drill(state, clip, progress=gr.Progress()):
        page = page_of(state)
        return outputs(
            page,
            run(page, lambda: page.drill_down(
                clip=clip, progress=progress_fn(progress))))

    def on_own_region(method: str) -> Callable:
        """The handler of a drill-down on the user's own region: brush,
        mask file or box (``DrillDownApp.drill_down_<kind>``)."""

        def handler(state, value, decoder, snap, clip, progress=gr.Progress()):
            page = page_of(state)
            action = getattr(page, method)
            return outputs(
                page,
                run(
                    page, lambda: action(
                        value,
                        decoder,
                        snap=bool(snap),
                        clip=clip,
                        progress=progress_fn(progress))))

        return handler

    on_drill_brush = on_own_region('drill_down_brush')
    on_drill_mask = on_own_region('drill_down_mask')
    on_drill_box = on_own_region('drill_down_box')

    def on_export(state):
        page = page_of(state)
        view = run(page, page.export)
        return outputs(page, view) + [view.files or None]

    empty = app.fork().view()
    with gr.Blocks(title='AIMS drill-down', analytics_enabled=False) as page:
        state = gr.State(None)
        gr.Markdown('## AIMS: all-inclusive multi-level segmentation\n'
                    'Upload an image, click a mask, drill down into it.')
        with gr.Row():
            with gr.Column(scale=3):
                with gr.Row():
                    upload = gr.File(
                        label='Image',
                        file_types=['image'],
                        type='filepath',
                        elem_id='upload')
                    with gr.Column():
                        demo_button = gr.Button(
                            'Load demo/demo.png',
                            elem_id='load-demo',
                            visible=osp.isfile(DEMO_IMAGE))
                        level = gr.Radio(
                            list(LEVELS),
                            value=app.level,
                            label='Level shown and selected by a click',
                            elem_id='level')
                        score_thr = gr.Slider(
                            0,
                            1,
                            value=app.score_thr,
                            step=0.05,
                            label='Score threshold',
                            elem_id='score-thr')
                overlay = gr.Image(
                    label='One-step result (click a mask to select it)',
                    type='numpy',
                    format='png',
                    interactive=False,
                    elem_id='overlay')
                drill_button = gr.Button(
                    'Drill down', variant='primary', elem_id='drill-down')
                selection = gr.HTML(empty.selection_html, elem_id='selection')
                status_md = gr.Markdown('', elem_id='status')
            with gr.Column(scale=2):
                gr.Markdown('### Hierarchy')
                tree = gr.HTML(empty.tree_html, elem_id='hierarchy')
                gr.Markdown('### Drill-down')
                drill_image = gr.Image(
                    label='Drill-down result (prompt outlined in yellow)',
                    type='numpy',
                    format='png',
                    interactive=False,
                    elem_id='drill-image')
                drill_list = gr.HTML(empty.drill_html, elem_id='drill-result')
        with gr.Accordion(
                'Drill down on your own region', open=False,
                elem_id='own-region'):
            decoder = gr.Radio([(label, value)
                                for label, value in PROMPT_DECODER_CHOICES],
                               value=PART,
                               label='Decoder',
                               elem_id='prompt-decoder')
            snap = gr.Checkbox(
                value=app.model.prompt_snap,
                label='Snap the region to the predicted mask it matches '
                'best (helps scribbles and strokes, costs precise masks; '
                'docs/inference.md, "Rough prompts")',
                elem_id='snap')
            clip = gr.Radio(
                CLIP_CHOICES,
                value='auto',
                label='Cut the children (of a drill-down on a selection '
                'too)',
                elem_id='clip')
            with gr.Row():
                with gr.Column():
                    brush = gr.ImageEditor(
                        label='Brush over the region',
                        type='numpy',
                        image_mode='RGBA',
                        sources=(),
                        transforms=(),
                        layers=False,
                        brush=gr.Brush(colors=['#ff3b30'], color_mode='fixed'),
                        elem_id='brush')
                    brush_button = gr.Button(
                        'Drill down on the brushed region',
                        elem_id='drill-brush')
                with gr.Column():
                    mask_file = gr.File(
                        label='Mask PNG (non-zero = inside)',
                        file_types=['image'],
                        type='filepath',
                        elem_id='mask-upload')
                    mask_button = gr.Button(
                        'Drill down on the mask file', elem_id='drill-mask')
                    box = gr.Textbox(
                        label='Box x1, y1, x2, y2 (pixels of the image)',
                        placeholder='40, 60, 100, 110',
                        elem_id='box')
                    box_button = gr.Button(
                        'Drill down on the box', elem_id='drill-box')
        with gr.Row():
            export_button = gr.Button(
                'Prepare downloads (prediction JSON, hierarchy JSON, masks '
                'PNG)',
                elem_id='export')
            downloads = gr.File(
                label='Downloads',
                file_count='multiple',
                interactive=False,
                elem_id='downloads')

        shown = [
            state, overlay, tree, selection, drill_image, drill_list, status_md
        ]
        upload.upload(on_upload, [state, upload], shown + [brush])
        demo_button.click(on_demo, [state], shown + [brush])
        level.change(on_level, [state, level], shown)
        score_thr.release(on_score_thr, [state, score_thr], shown)
        overlay.select(on_click, [state], shown)
        drill_button.click(on_drill, [state, clip], shown)
        brush_button.click(on_drill_brush, [state, brush, decoder, snap, clip],
                           shown)
        mask_button.click(on_drill_mask,
                          [state, mask_file, decoder, snap, clip], shown)
        box_button.click(on_drill_box, [state, box, decoder, snap, clip],
                         shown)
        box.submit(on_drill_box, [state, box, decoder, snap, clip], shown)
        export_button.click(on_export, [state], shown + [downloads])
    return page


def launch_page(app: DrillDownApp,
                host: str = '127.0.0.1',
                port: int = 7860,
                block: bool = True,
                **kwargs):
    """Build, queue and launch the page.

    Args:
        app (DrillDownApp): The app.
        host (str): Address to listen on.
        port (int): Port.
        block (bool): Serve until interrupted (False: return at once, the
            server runs in a thread; close it with ``page.close()``).
        **kwargs: More arguments of ``gradio.Blocks.launch``.

    Returns:
        gradio.Blocks: The launched page.
    """
    import gradio as gr

    # no font or analytics requests: the page works offline
    theme = gr.themes.Default(
        font=['ui-sans-serif', 'system-ui', 'sans-serif'],
        font_mono=['ui-monospace', 'monospace'])
    page = build_page(app)
    page.queue(default_concurrency_limit=1)
    page.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=not block,
        share=False,
        ssr_mode=False,
        theme=theme,
        css=PAGE_CSS,
        allowed_paths=[app.out_dir],
        **kwargs)
    return page


def parse_args(argv: Optional[List[str]] = None):
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'config',
        help='config file, or a config name of '
        'configs/aims (e.g. aims_r18_synthetic)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--device',
        default=None,
        help='device, e.g. cpu or cuda:0 (default: cuda if available)')
    parser.add_argument(
        '--host', default='127.0.0.1', help='address to listen on')
    parser.add_argument('--port', type=int, default=7860, help='port')
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.3,
        help='masks with a score <= this are not drawn, selectable nor in '
        'the hierarchy (default 0.3)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Serve the page until interrupted."""
    args = parse_args(argv)
    os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')
    try:
        import gradio  # noqa: F401
    except ImportError:
        print(
            'demo/webui.py needs Gradio: pip install -r '
            'requirements/demo.txt',
            file=sys.stderr)
        return 2
    if not osp.isfile(args.checkpoint):
        print(f'checkpoint {args.checkpoint} not found', file=sys.stderr)
        return 2
    try:
        app = DrillDownApp.from_config(
            args.config,
            args.checkpoint,
            device=args.device,
            score_thr=args.score_thr)
    except FileNotFoundError as e:
        print(str(e), file=sys.stderr)
        return 2
    print(f'serving on http://{args.host}:{args.port} (Ctrl+C to stop)')
    launch_page(app, args.host, args.port)
    return 0


if __name__ == '__main__':
    sys.exit(main())
