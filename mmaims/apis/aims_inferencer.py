# Copyright (c) mmaims contributors. All rights reserved.
import copy
import logging
import os.path as osp
import uuid
import warnings
from typing import Callable, List, Optional, Sequence, Tuple, Union

import mmcv
import mmengine
import numpy as np
import torch
import torch.nn as nn
from mmdet.structures import DetDataSample
from mmengine.config import Config, ConfigDict
from mmengine.dataset import Compose, pseudo_collate
from mmengine.infer.infer import BaseInferencer, ModelType
from mmengine.logging import MMLogger, print_log
from mmengine.model.utils import revert_sync_batchnorm
from mmengine.registry import FUNCTIONS, init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from mmengine.utils import ProgressBar
from mmengine.visualization import Visualizer

from mmaims.datasets.transforms import PackAIMSInputs
from mmaims.registry import TRANSFORMS, VISUALIZERS
from mmaims.structures import (ID_MAP_LEVELS, LEVELS, build_hierarchy,
                               prediction_to_id_map, save_id_map)
from mmaims.structures.fields import PRED_FIELDS
from mmaims.structures.tasks import DEFAULT_PROMPT_TYPES
from mmaims.utils import (dump_json, register_all_modules,
                          register_safe_checkpoint_loader)
from .aims_image_session import AIMSImageSession
from .inputs import (ImageInput, PromptInput, is_box, list_image_folder,
                     load_image, load_prompt)
from .outputs import (check_decoder, check_levels, check_output_levels,
                      check_promptable, filter_levels, sample_to_result)

#: transforms of a test pipeline that read files or annotations: the
#: inferencer loads the image itself and has no annotations
SKIPPED_TRANSFORMS = ('LoadImageFromFile', 'LoadHierarchicalAnnotations',
                      'LoadAnnotations', 'SampleTaskPrompt',
                      'FilterHierarchicalAnnotations', 'InferencerLoader',
                      'LoadImageFromNDArray')


def _transform_name(transform: dict) -> str:
    kind = transform['type']
    name = kind if isinstance(kind, str) else kind.__name__
    return name.split('.')[-1]


def _is_aims_packer(transform: dict) -> bool:
    """Whether a transform config packs AIMS inputs: ``PackAIMSInputs`` or
    a subclass (``PackCropFormerInputs`` adds the crop views)."""
    kind = transform['type']
    cls = TRANSFORMS.get(kind) if isinstance(kind, str) else kind
    return isinstance(cls, type) and issubclass(cls, PackAIMSInputs)


class AIMSInferencer(BaseInferencer):
    """Inference of AIMS for image editing: every mask at every level, how
    they nest, and drill-down into a chosen mask.

    In the style of mmdet's ``DetInferencer``::

        inferencer = AIMSInferencer('aims_r18_synthetic', 'model.pth')
        result = inferencer('photo.jpg')            # or a folder / list
        result['predictions'][0]   # {'masks': [...], 'links': [...], ...}
        inferencer('photo.jpg', prompt='car.png', prompt_decoder='part')

    Each prediction is the dict of docs/formats.md section 2 (masks with
    ``level`` and ``score`` as RLE at the original size, ``entity-part``
    and ``relation-entity`` links), plus ``image`` (path or name),
    ``height``, ``width``, ``notes`` (conversions applied to the input) and,
    for a prompt, ``prompt`` (``decoder``, ``prompt_type``, ``level``).
    Image ids are the positions of the images in the input list; mask ids
    start at 1 in each image.

    To run several prompts on one image without recomputing the image
    features use :meth:`session` (or :meth:`prompt`).

    A CropFormer config and checkpoint (``configs/cropformer/
    cropformer_*.py``) run the same way, one-step only: its test pipeline
    ends with ``PackCropFormerInputs`` and its predictions are entity
    masks. Prompts and sessions are AIMS-only (ValueError).

    The steps are those of mmengine's ``BaseInferencer``, with the
    signatures of mmdet's ``DetInferencer``: :meth:`preprocess` reads the
    images and runs the test pipeline, :meth:`forward` predicts a batch (a
    ``DetDataSample`` per image), :meth:`visualize` draws and
    :meth:`postprocess` packs and saves. Like ``DetInferencer``,
    :meth:`__call__` runs them batch by batch; it also keeps the images
    that fail apart, and between :meth:`forward` and :meth:`visualize` it
    reads each sample once with :meth:`pred2dict` (prediction dict and
    hierarchy tree): these are the ``preds`` of :meth:`visualize` (scene
    graph) and :meth:`postprocess` (JSON files and results).

    Args:
        model (str | dict | Config, optional): A config path, a config name
            (``'aims_r18_synthetic'`` -> ``configs/aims/<name>.py`` of the
            repository or of the installed package's ``.mim``), or a
            config. None: the config stored in ``weights``.
        weights (str, optional): Checkpoint path. None: random weights, with
            a warning (only useful for tests).
        device (str, optional): ``'cuda'``, ``'cuda:1'``, ``'cpu'``...
            Defaults to ``'cuda'`` when CUDA is available, else ``'cpu'``.
        scope (str): Registry scope. Defaults to 'mmaims'.
        show_progress (bool): Progress bar over several images. Defaults to
            True.
    """

    preprocess_kwargs: set = set()
    forward_kwargs: set = {
        'levels', 'prompts', 'prompt_decoder', 'prompt_type'
    }
    visualize_kwargs: set = {
        'return_vis', 'show', 'wait_time', 'pred_score_thr', 'img_out_dir',
        'no_save_vis'
    }
    postprocess_kwargs: set = {
        'pred_out_dir', 'return_datasamples', 'no_save_pred', 'no_save_idmap'
    }

    def __init__(self,
                 model: Optional[Union[ModelType, str]] = None,
                 weights: Optional[str] = None,
                 device: Optional[str] = None,
                 scope: str = 'mmaims',
                 show_progress: bool = True) -> None:
        register_all_modules(init_default_scope=False)
        # the checkpoint is read weights-only
        register_safe_checkpoint_loader()
        init_default_scope(scope)
        if isinstance(model, str):
            model = self.resolve_config(model)
        if device is None:
            device = 'cuda' if torch.cuda.is_available() else 'cpu'
        super().__init__(
            model=model, weights=weights, device=device, scope=scope)
        self.model = revert_sync_batchnorm(self.model)
        self.show_progress = show_progress

    # ------------------------------------------------------------------
    # construction
    # ------------------------------------------------------------------
    @classmethod
    def resolve_config(cls, model: str) -> Config:
        """Load a config from a path or a config name.

        Args:
            model (str): A ``.py`` path, or the name of a config of
                ``configs/aims`` (with or without ``.py``), looked up in the
                repository of the installed package or its ``.mim``.

        Returns:
            Config: The loaded config.

        Raises:
            FileNotFoundError: Naming what was looked for and the known
                config names.
        """
        if osp.isfile(model):
            return Config.fromfile(model)
        name = osp.basename(model)
        name = name[:-3] if name.endswith('.py') else name
        try:
            root = BaseInferencer._get_repo_or_mim_dir('mmaims')
        except FileNotFoundError:
            root = None
        config_dir = osp.join(root, 'configs', 'aims') if root else None
        candidate = osp.join(config_dir, f'{name}.py') if config_dir else None
        if model != name and model != f'{name}.py':
            # a path that does not exist is not a name
            candidate = None
        if candidate is not None and osp.isfile(candidate):
            return Config.fromfile(candidate)
        known = sorted(f[:-3] for f in mmengine.list_dir_or_file(
            config_dir, list_dir=False, suffix='.py')) if (
                config_dir and osp.isdir(config_dir)) else []
        raise FileNotFoundError(
            f'config "{model}" is neither a file nor a config name of '
            f'{config_dir or "configs/aims"}; known names: '
            f'{", ".join(known) or "(none)"}')

    def _load_weights_to_model(self, model: nn.Module,
                               checkpoint: Optional[dict],
                               cfg: Optional[Config]) -> None:
        """Load the checkpoint, or initialise the weights with a warning."""
        if checkpoint is not None:
            _load_checkpoint_to_model(model, checkpoint)
            meta = checkpoint.get('meta', {}) or {}
            model.dataset_meta = {
                k.lower(): v
                for k, v in (meta.get('dataset_meta') or {}).items()
            }
        else:
            warnings.warn('No checkpoint given: the AIMS model has random '
                          'weights and its predictions are meaningless.')
            # mmengine logs one INFO line per parameter here; they say
            # nothing to someone running inference
            logger = MMLogger.get_current_instance()
            level = logger.level
            logger.setLevel(logging.WARNING)
            try:
                model.init_weights()
            finally:
                logger.setLevel(level)
            model.dataset_meta = {}

    def _init_collate(self, cfg: Config) -> Callable:
        """The test dataloader's ``collate_fn`` (mmengine's functions
        registry), else ``pseudo_collate`` as in mmdet's test loaders."""
        name = cfg.get('test_dataloader', {}).get('collate_fn')
        if name is None:
            return pseudo_collate
        name = name['type'] if isinstance(name, dict) else name
        collate_fn = FUNCTIONS.get(name)
        if collate_fn is None:
            raise ValueError(f'test_dataloader.collate_fn "{name}" is not a '
                             'registered function')
        return collate_fn

    def _init_pipeline(self, cfg: Config) -> Compose:
        """The test pipeline without file loading and annotations.

        The image is read by :meth:`load_input` (which reports conversions),
        so the pipeline starts after ``LoadImageFromFile``; the
        annotation-only transforms of the test pipeline are left out. It
        must end with ``PackAIMSInputs`` or a subclass
        (``PackCropFormerInputs``: CropFormer's full view and crops).
        """
        try:
            pipeline_cfg = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
        except AttributeError as e:
            raise ValueError(
                'the config has no test_dataloader.dataset.pipeline; the '
                'inferencer uses its resize and packing transforms') from e
        kept = [
            t for t in pipeline_cfg
            if _transform_name(t) not in SKIPPED_TRANSFORMS
        ]
        if not kept or not _is_aims_packer(kept[-1]):
            raise ValueError('the test pipeline of the config must end with '
                             'PackAIMSInputs (or a subclass of it, such as '
                             'PackCropFormerInputs), got '
                             f'{[_transform_name(t) for t in kept]}')
        return Compose(kept)

    def _init_visualizer(self, cfg: Config) -> Visualizer:
        """An :class:`AIMSLocalVisualizer` (the config's, or a default one
        when the config names another visualizer or none)."""
        from mmaims.visualization import AIMSLocalVisualizer
        vis_cfg = copy.deepcopy(cfg.get(
            'visualizer', None)) or ConfigDict(type='AIMSLocalVisualizer')
        vis_cls = VISUALIZERS.get(vis_cfg['type']) if isinstance(
            vis_cfg['type'], str) else vis_cfg['type']
        if vis_cls is None or not issubclass(vis_cls, AIMSLocalVisualizer):
            vis_cfg = ConfigDict(type='AIMSLocalVisualizer')
        # pictures are written to out_dir by the inferencer itself; the
        # training-time backends (LocalVisBackend...) have no save_dir here
        vis_cfg['vis_backends'] = []
        # visualizer names are global (ManagerMixin): one per inferencer
        vis_cfg['name'] = f'aims_inferencer-{uuid.uuid4().hex}'
        return VISUALIZERS.build(vis_cfg)

    # ------------------------------------------------------------------
    # inputs
    # ------------------------------------------------------------------
    def _collect_inputs(
            self, inputs) -> Tuple[List[Tuple[ImageInput, str]], List[str]]:
        """Expand folders; name each image; list the skipped files."""
        if isinstance(inputs, (str, np.ndarray)):
            inputs = [inputs]
        if not isinstance(inputs, (list, tuple)):
            raise TypeError('inputs must be an image path, a folder, an '
                            'array or a list of them, got '
                            f'{type(inputs).__name__}')
        items, skipped = [], []
        for index, source in enumerate(inputs):
            if isinstance(source, str) and osp.isdir(source):
                images, folder_skipped = list_image_folder(source)
                items.extend((path, path) for path in images)
                skipped.extend(folder_skipped)
            elif isinstance(source, str):
                items.append((source, source))
            else:
                items.append((source, f'array_{index}'))
        names, used = [], set()
        for source, label in items:
            stem = osp.splitext(osp.basename(label))[0] if isinstance(
                source, str) else label
            name, k = stem, 1
            while name in used:
                name, k = f'{stem}_{k}', k + 1
            used.add(name)
            names.append(name)
        return [(source, name)
                for (source, _), name in zip(items, names)], skipped

    def load_input(self,
                   source: ImageInput,
                   name: Optional[str] = None,
                   image_id: int = 0) -> dict:
        """Read one input image and run the test pipeline on it.

        Conversions (grayscale, RGBA, 16-bit) are warned about and kept in
        ``notes``.

        Args:
            source (str | np.ndarray): Image path or BGR array.
            name (str, optional): Name used in messages and file names.
            image_id (int): ``img_id`` of the sample.

        Returns:
            dict: ``name``, ``img`` (BGR uint8), ``notes`` and ``packed``
            (the output of the test pipeline).

        Raises:
            ImageLoadError: The image cannot be read or used.
        """
        if name is None:
            name = osp.splitext(osp.basename(source))[0] if isinstance(
                source, str) else 'array'
        where = source if isinstance(source, str) else f'input {name}'
        img, notes = load_image(source, where)
        for note in notes:
            warnings.warn(note)
        data = dict(
            img=img,
            img_shape=img.shape[:2],
            ori_shape=img.shape[:2],
            img_id=image_id,
            img_path=source if isinstance(source, str) else None)
        return dict(
            name=name, img=img, notes=notes, packed=self.pipeline(data))

    def _load_prompts(self, prompt,
                      num_images: int) -> Optional[List[np.ndarray]]:
        """One bool mask per image (a single prompt serves every image)."""
        if prompt is None:
            return None
        if isinstance(prompt, (list, tuple)) and not is_box(prompt):
            if len(prompt) != num_images:
                raise ValueError(f'{len(prompt)} prompts for {num_images} '
                                 'images; give one prompt, or one per image')
            return [
                load_prompt(
                    p,
                    f'prompt {i}' + (f' ({p})' if isinstance(p, str) else ''))
                for i, p in enumerate(prompt)
            ]
        mask = load_prompt(
            prompt, f'prompt {prompt}' if isinstance(prompt, str) else None)
        return [mask] * num_images

    def session(self,
                image: ImageInput,
                name: Optional[str] = None,
                image_id: int = 0) -> AIMSImageSession:
        """Compute an image's features once for several predictions.

        Args:
            image (str | np.ndarray): Image path or ``H x W x 3`` BGR array.
            name (str, optional): Name in results. Defaults to the file
                stem, or ``'array'``.
            image_id (int): ``image_id`` of the results. Defaults to 0.

        Returns:
            AIMSImageSession: With ``predict()`` and ``prompt(...)``.

        Raises:
            ImageLoadError: The image cannot be read or used.
            ValueError: The model is a CropFormer (no prompts, no
                sessions).
        """
        check_promptable(self.model)
        return self._new_session(self.load_input(image, name, image_id))

    def _new_session(self, loaded: dict) -> AIMSImageSession:
        """The session of an image from :meth:`load_input`: it gets the
        model and the image's collated sample, and keeps no reference to
        the inferencer."""
        return AIMSImageSession(self.model,
                                self.collate_fn([loaded['packed']]),
                                loaded['img'], loaded['name'], loaded['notes'])

    def prompt(self,
               image: Union[ImageInput, AIMSImageSession],
               prompts: Union[PromptInput, Sequence[PromptInput]],
               decoder: Union[str, Sequence[str]] = 'part',
               prompt_type: Optional[str] = None,
               return_datasamples: bool = False,
               snap: Optional[bool] = None,
               clip: Optional[str] = None,
               rough: Union[bool, Sequence[bool]] = False) -> List[dict]:
        """Run several prompts on one image, computing its features once.

        Args:
            image (str | np.ndarray | AIMSImageSession): The image, or a
                session of it (to reuse its features across calls).
            prompts (str | np.ndarray | Sequence[float] | list): Mask(s),
                PNG paths, arrays or boxes ``(x1, y1, x2, y2)``.
            decoder (str | Sequence[str]): ``'part'``, ``'entity'`` or
                ``'relation'``, or one per prompt (see
                :meth:`AIMSImageSession.prompt`).
            prompt_type (str, optional): Recorded in the result.
            return_datasamples (bool): Return ``DetDataSample`` s.
            snap (bool, optional): Snap one-entity / two-entity prompts to
                the one-step mask they match best first (see
                :meth:`AIMSImageSession.prompt_sample`); None: as
                ``test_cfg.prompt_snap`` says.
            clip (str, optional): ``'hard'``, ``'margin'``,
                ``'entities'``, ``'inside'`` or ``'none'`` for these
                prompts, or ``'auto'`` (``'hard'`` for a box or an exact
                mask, the config's for a drawn one; see
                :meth:`AIMSImageSession.prompt_sample`); None: as
                ``test_cfg.prompt_clip`` says.
            rough (bool | Sequence[bool]): The prompts were drawn rather
                than picked, one for all or one per prompt (see
                :meth:`AIMSImageSession.prompt_sample`). Defaults to False.

        Returns:
            list[dict]: One prediction dict per prompt.
        """
        session = image if isinstance(
            image, AIMSImageSession) else self.session(image)
        return session.prompt(
            prompts,
            decoder,
            prompt_type,
            return_datasamples,
            snap=snap,
            clip=clip,
            rough=rough)

    def __call__(self,
                 inputs,
                 levels: Optional[Sequence[str]] = None,
                 prompt=None,
                 prompt_decoder: Optional[str] = None,
                 prompt_type: Optional[str] = None,
                 prompt_rough: bool = False,
                 prompt_clip: Optional[str] = None,
                 prompt_snap: Optional[bool] = None,
                 batch_size: int = 1,
                 return_vis: bool = False,
                 show: bool = False,
                 wait_time: float = 0,
                 pred_score_thr: float = 0.3,
                 return_datasamples: bool = False,
                 no_save_vis: bool = False,
                 no_save_pred: bool = False,
                 no_save_idmap: bool = False,
                 out_dir: str = '') -> dict:
        """Predict images; optionally draw and save the results.

        Args:
            inputs (str | np.ndarray | list): An image path, a folder (its
                image files, sorted; other files are listed in ``skipped``),
                an ``H x W x 3`` BGR array (``H x W`` gray and ``H x W x 4``
                BGRA are converted with a warning) or a list of those.
            levels (Sequence[str], optional): Levels to return, a subset of
                ``('part', 'entity', 'relation')``. Defaults to all.
            prompt (str | np.ndarray | Sequence[float] | list, optional):
                A box ``(x1, y1, x2, y2)`` or a binary mask (PNG
                path or array) for prompt inference (drill-down), or one per
                image. A mask of another size than its image is resized with
                a warning; an empty mask is an error.
            prompt_decoder (str, optional): Decoder of the prompt:
                ``'part'`` (default: split an entity into its parts),
                ``'relation'`` (split two touching entities) or
                ``'entity'`` (split a region into entities).
            prompt_type (str, optional): Prompt type recorded in the result.
                Defaults to ``one_entity`` / ``two_entities`` / ``partial``
                for the part / relation / entity decoder.
            prompt_rough (bool): The prompts were drawn rather than picked
                (see :meth:`AIMSImageSession.prompt_sample`). Defaults to
                False.
            prompt_clip (str, optional): Where the children are cut
                (``clip`` of :meth:`AIMSImageSession.prompt_sample`,
                ``'auto'`` included); None: as ``test_cfg.prompt_clip``
                says.
            prompt_snap (bool, optional): Snap one-entity / two-entity
                prompts to the one-step mask they match best first
                (``snap`` of :meth:`AIMSImageSession.prompt_sample`); None:
                as ``test_cfg.prompt_snap`` says.
            batch_size (int): Images per forward in one-step inference
                (prompt inference goes image by image). Defaults to 1.
            return_vis (bool): Return the drawn images. Defaults to False.
            show (bool): Display the drawn images. Defaults to False.
            wait_time (float): Display interval (s). Defaults to 0.
            pred_score_thr (float): Masks with a score <= this are left out
                of the pictures, of the hierarchy and of the id maps (not of
                the predictions). Defaults to 0.3.
            return_datasamples (bool): Return ``DetDataSample`` s instead of
                prediction dicts. Defaults to False.
            no_save_vis (bool): Do not write pictures. Defaults to False.
            no_save_pred (bool): Do not write JSON files. Defaults to
                False.
            no_save_idmap (bool): Do not write id maps. Defaults to False.
            out_dir (str): Output folder; empty: nothing is written. It gets
                ``preds/<name>.json``, ``hierarchy/<name>.json``,
                ``idmap/<name>_<level>.png`` (part and entity, the
                non-overlapping id maps of docs/formats.md section 2.1),
                ``vis/<name>.png`` (all levels and links),
                ``vis/<name>_<level>.png`` and ``hierarchy/<name>.png``.

        Returns:
            dict: ``predictions`` (one per image read and predicted),
            ``hierarchy`` (the :func:`build_hierarchy` tree of each),
            ``visualization`` (RGB images, with ``return_vis``),
            ``failures`` (``dict(input, error)`` of each image that could
            not be predicted; the others are still processed) and
            ``skipped`` (files of folders that are not images).

        Raises:
            ValueError: Unknown level or decoder, empty or unreadable
                prompt, prompt count not matching the images, a prompt for
                a CropFormer or entity-framework model, or ``levels``
                without ``'entity'`` for one.
        """
        levels = check_levels(levels)
        check_output_levels(levels, self.model)
        if prompt is None and (prompt_decoder is not None
                               or prompt_type is not None or prompt_rough
                               or prompt_clip is not None
                               or prompt_snap is not None):
            raise ValueError('prompt_decoder / prompt_type / prompt_rough / '
                             'prompt_clip / prompt_snap need a prompt')
        if prompt is not None:
            check_promptable(self.model)
            prompt_decoder = check_decoder(prompt_decoder or 'part',
                                           self.model)
            prompt_type = prompt_type or DEFAULT_PROMPT_TYPES.get(
                prompt_decoder)
            if prompt_clip not in (None, 'auto'):
                # a bad mode is the caller's error, not a failed image
                self.model.post_processor.prompt_clip_mode(prompt_clip)
            output_level = self.model.prompt_output_levels.get(prompt_decoder)
            if output_level not in levels:
                raise ValueError(
                    f'the {prompt_decoder} decoder gives {output_level} '
                    f'masks under a prompt, which levels={levels} excludes')
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        if out_dir and osp.isfile(out_dir):
            raise ValueError(f'out_dir "{out_dir}" is a file')

        items, skipped = self._collect_inputs(inputs)
        for line in skipped:
            print_log(line, logger='current', level=logging.WARNING)
        prompts = self._load_prompts(prompt, len(items))
        results = dict(
            predictions=[],
            hierarchy=[],
            visualization=[],
            failures=[],
            skipped=skipped)

        progress = ProgressBar(len(items)) if (self.show_progress
                                               and len(items) > 1) else None
        chunk = 1 if prompts is not None else batch_size
        for batch, failures in self.preprocess(items, batch_size=chunk):
            results['failures'].extend(failures)
            if batch:
                try:
                    samples = self.forward(
                        batch,
                        levels=levels,
                        prompts=prompts,
                        prompt_decoder=prompt_decoder,
                        prompt_type=prompt_type,
                        prompt_rough=prompt_rough,
                        prompt_clip=prompt_clip,
                        prompt_snap=prompt_snap)
                except Exception as e:  # noqa: BLE001
                    samples = []
                    results['failures'].extend(
                        self._failure(loaded['label'], e) for loaded in batch)
                # read once per image: the scene graph of visualize and the
                # files and results of postprocess all use these
                preds = [
                    self.pred2dict(sample, loaded, pred_score_thr)
                    for loaded, sample in zip(batch, samples)
                ]
                visualization = self.visualize(
                    batch,
                    preds,
                    return_vis=return_vis,
                    show=show,
                    wait_time=wait_time,
                    pred_score_thr=pred_score_thr,
                    img_out_dir=out_dir,
                    no_save_vis=no_save_vis)
                out = self.postprocess(
                    preds,
                    visualization,
                    return_datasamples=return_datasamples,
                    pred_out_dir=out_dir,
                    no_save_pred=no_save_pred,
                    no_save_idmap=no_save_idmap)
                for key in ('predictions', 'hierarchy', 'visualization'):
                    results[key].extend(out[key] or [])
            if progress is not None:
                for _ in range(len(batch) + len(failures)):
                    progress.update()
        if progress is not None:
            print()
        if results['failures']:
            print_log(
                f'{len(results["failures"])} of {len(items)} image(s) '
                'failed:\n' + '\n'.join(f'  {f["error"]}'
                                        for f in results['failures']),
                logger='current',
                level=logging.WARNING)
        return results

    @staticmethod
    def _failure(label: str, error: Exception) -> dict:
        """A failure record whose message names the input."""
        message = str(error)
        if label not in message:
            message = f'{label}: {type(error).__name__}: {message}'
        print_log(message, logger='current', level=logging.WARNING)
        return dict(input=label, error=message)

    def preprocess(self,
                   inputs: List[Tuple[ImageInput, str]],
                   batch_size: int = 1):
        """Read the images and run the test pipeline, batch by batch,
        keeping the failures apart.

        Args:
            inputs (list[tuple]): ``(source, name)`` of each image, from
                :meth:`_collect_inputs`; the position is the image id.
            batch_size (int): Images per batch.

        Yields:
            tuple[list[dict], list[dict]]: The :meth:`load_input` dicts of
            the images read (with ``index`` and ``label``), and the failure
            records of the others.
        """
        for start in range(0, len(inputs), batch_size):
            batch, failures = [], []
            for index in range(start, min(start + batch_size, len(inputs))):
                source, name = inputs[index]
                label = source if isinstance(source, str) else name
                try:
                    loaded = self.load_input(source, name, index)
                    loaded.update(index=index, label=label)
                    batch.append(loaded)
                except Exception as e:  # noqa: BLE001
                    failures.append(self._failure(label, e))
            yield batch, failures

    def forward(self,
                inputs: List[dict],
                levels: Sequence[str] = LEVELS,
                prompts: Optional[List[np.ndarray]] = None,
                prompt_decoder: Optional[str] = None,
                prompt_type: Optional[str] = None,
                prompt_rough: bool = False,
                prompt_clip: Optional[str] = None,
                prompt_snap: Optional[bool] = None) -> List[DetDataSample]:
        """Predict a batch from :meth:`preprocess`.

        One-step inference runs the model's ``test_step`` on the batch;
        prompt inference makes an :class:`AIMSImageSession` of each image
        and runs its prompt on it.

        Args:
            inputs (list[dict]): Loaded images of one batch.
            levels (Sequence[str]): Levels kept in one-step inference (a
                prompt result keeps the decoder's output level only).
                Defaults to all.
            prompts (list[np.ndarray], optional): One mask per image of the
                whole call (indexed by image id); None: one-step inference.
            prompt_decoder (str, optional): Decoder of the prompts.
            prompt_type (str, optional): Prompt type of the prompts.
            prompt_rough (bool): The prompts were drawn rather than picked.
            prompt_clip (str, optional): Where their children are cut.
            prompt_snap (bool, optional): Snap them to one-step masks first.

        Returns:
            list[DetDataSample]: Predicted samples (docs/data_sample.md
            section 2), one per image.
        """
        if prompts is None:
            data = self.collate_fn([loaded['packed'] for loaded in inputs])
            with torch.no_grad():
                samples = self.model.test_step(data)
            return [filter_levels(sample, levels) for sample in samples]
        # the other levels are empty under a prompt: no panel for them
        output_levels = [self.model.prompt_output_levels[prompt_decoder]]
        samples = []
        for loaded in inputs:
            sample = self._new_session(loaded).prompt_sample(
                prompts[loaded['index']],
                prompt_decoder,
                prompt_type,
                snap=prompt_snap,
                clip=prompt_clip,
                rough=prompt_rough)
            samples.append(filter_levels(sample, output_levels))
        return samples

    def pred2dict(self,
                  sample: DetDataSample,
                  loaded: dict,
                  pred_score_thr: float = 0.3) -> dict:
        """Read one predicted sample as its prediction dict and hierarchy.

        :meth:`__call__` does it once per image, between :meth:`forward`
        and :meth:`visualize`: the scene graph of :meth:`visualize` and the
        files and results of :meth:`postprocess` use the same dict and
        tree.

        Args:
            sample (DetDataSample): A sample from :meth:`forward`.
            loaded (dict): Its image, from :meth:`preprocess` (``name``,
                ``notes``, ``index``).
            pred_score_thr (float): Masks with a score <= this are left
                out of the hierarchy (and of the id maps of
                :meth:`postprocess`). Defaults to 0.3.

        Returns:
            dict: ``name``, ``sample``, ``prediction`` (the dict of
            docs/formats.md section 2 with ``image``, ``height``, ``width``,
            ``notes`` and, under a prompt, ``prompt``), ``hierarchy``
            (its :func:`build_hierarchy` tree, with ``image``) and
            ``score_thr`` (``pred_score_thr``).
        """
        prediction = sample_to_result(sample, loaded['name'], loaded['notes'],
                                      self.model.prompt_output_levels)
        tree = build_hierarchy(
            prediction,
            pred_score_thr,
            image_id=loaded['index'],
            prompt=prediction.get('prompt'))
        tree['image'] = prediction['image']
        return dict(
            name=loaded['name'],
            sample=sample,
            prediction=prediction,
            hierarchy=tree,
            score_thr=pred_score_thr)

    def visualize(self,
                  inputs: List[dict],
                  preds: List[dict],
                  return_vis: bool = False,
                  show: bool = False,
                  wait_time: float = 0,
                  pred_score_thr: float = 0.3,
                  img_out_dir: str = '',
                  no_save_vis: bool = False) -> Optional[List[np.ndarray]]:
        """Draw the predictions of a batch.

        Writes ``vis/<name>.png`` (all levels side by side with links),
        ``vis/<name>_<level>.png`` (one level each) and
        ``hierarchy/<name>.png`` (the scene graph) under ``img_out_dir``.

        Args:
            inputs (list[dict]): Loaded images (:meth:`preprocess`).
            preds (list[dict]): Their predictions (:meth:`pred2dict`).
            return_vis (bool): Return the drawn images.
            show (bool): Display them.
            wait_time (float): Display interval (s).
            pred_score_thr (float): Masks with a score <= this are not
                drawn.
            img_out_dir (str): Output folder; empty: nothing is written.
            no_save_vis (bool): Do not write pictures.

        Returns:
            list[np.ndarray] | None: The drawn RGB images with
            ``return_vis``.
        """
        vis_dir = '' if no_save_vis else img_out_dir
        if not (vis_dir or return_vis or show):
            return None
        from mmaims.visualization import draw_scene_graph, scene_graph_masks
        drawn = []
        for loaded, pred in zip(inputs, preds):
            name, sample = pred['name'], pred['sample']
            image = np.ascontiguousarray(loaded['img'][..., ::-1])
            self.visualizer.add_datasample(
                name,
                image,
                sample,
                draw_gt=False,
                show=show,
                wait_time=wait_time,
                out_file=osp.join(vis_dir, 'vis', f'{name}.png')
                if vis_dir else None,
                pred_score_thr=pred_score_thr)
            drawn.append(self.visualizer.get_image())
            if not vis_dir:
                continue
            panels = self.visualizer.draw_level_panels(image, sample,
                                                       pred_score_thr)
            for level, panel in panels.items():
                mmcv.imwrite(panel[..., ::-1],
                             osp.join(vis_dir, 'vis', f'{name}_{level}.png'))
            tree = pred['hierarchy']
            graph = draw_scene_graph(
                image, tree, scene_graph_masks(pred['prediction'], tree))
            mmcv.imwrite(graph[..., ::-1],
                         osp.join(vis_dir, 'hierarchy', f'{name}.png'))
        return drawn if return_vis else None

    def postprocess(self,
                    preds: List[dict],
                    visualization: Optional[List[np.ndarray]] = None,
                    return_datasamples: bool = False,
                    pred_out_dir: str = '',
                    no_save_pred: bool = False,
                    no_save_idmap: bool = False) -> dict:
        """Pack the predictions of a batch; save them.

        Writes ``preds/<name>.json`` (docs/formats.md section 2),
        ``hierarchy/<name>.json`` (:func:`build_hierarchy`) and
        ``idmap/<name>_<level>.png`` (docs/formats.md section 2.1: the
        non-overlapping id map of each part / entity level the prediction
        has, of its masks with a score above the ``score_thr`` of
        :meth:`pred2dict`) under ``pred_out_dir``.

        Args:
            preds (list[dict]): Predictions (:meth:`pred2dict`).
            visualization (list[np.ndarray], optional): From
                :meth:`visualize`, passed through.
            return_datasamples (bool): Return the samples instead of dicts.
            pred_out_dir (str): Output folder; empty: nothing is written.
            no_save_pred (bool): Do not write JSON files.
            no_save_idmap (bool): Do not write id maps.

        Returns:
            dict: ``predictions``, ``hierarchy`` and ``visualization``.
        """
        out_dir = '' if no_save_pred else pred_out_dir
        if out_dir:
            for pred in preds:
                dump_json(pred['prediction'],
                          osp.join(out_dir, 'preds', f'{pred["name"]}.json'))
                dump_json(
                    pred['hierarchy'],
                    osp.join(out_dir, 'hierarchy', f'{pred["name"]}.json'))
        idmap_dir = '' if no_save_idmap else pred_out_dir
        if idmap_dir:
            for pred in preds:
                for level in ID_MAP_LEVELS:
                    # the levels the prediction has, even with no mask
                    if PRED_FIELDS[level] not in pred['sample']:
                        continue
                    save_id_map(
                        prediction_to_id_map(pred['prediction'], level,
                                             pred.get('score_thr')),
                        osp.join(idmap_dir, 'idmap',
                                 f'{pred["name"]}_{level}.png'))
        return dict(
            predictions=[
                pred['sample'] if return_datasamples else pred['prediction']
                for pred in preds
            ],
            hierarchy=[pred['hierarchy'] for pred in preds],
            visualization=visualization)
