# Copyright (c) mmaims contributors. All rights reserved.
"""The prediction file of docs/formats.md section 2, from and to data samples.

``samples_to_predictions`` turns predicted ``DetDataSample`` s (fields of
docs/data_sample.md section 2) into the file dict; ``load_predictions`` and
``validate_predictions`` read one back and check it against the ground
truth. The ``DumpAIMSPredictions`` metric, the offline evaluator, the
inferencer and the demo all go through these functions.
"""
import math
import numbers
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import pycocotools.mask as mask_util

from .annotations import load_annotation_file
from .fields import LINK_FIELDS, LINK_TYPES, PRED_FIELDS, PROMPTED_FIELD
from .levels import LEVELS
from .mask import to_rle

_LINK_LEVELS = {name: (parent, child) for name, parent, child in LINK_TYPES}
#: keys of a drill-down prompt entry besides ``id`` and ``image_id``
PROMPT_KEYS = ('type', 'ann_id', 'prompt_type', 'decoder', 'level',
               'perturbation')


def _get(obj, key: str, default=None):
    """Field of a data element or of its ``to_dict()`` form."""
    # BaseDataElement.get and dict.get share a signature; both forms reach
    # here because mmengine's Evaluator hands metrics ``to_dict()`` copies.
    if obj is None:
        return default
    return obj.get(key, default)


def _to_numpy(value) -> np.ndarray:
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _is_rle_list(masks) -> bool:
    return isinstance(masks, (list, tuple)) and all(
        isinstance(m, dict) for m in masks)


def masks_to_numpy(masks) -> np.ndarray:
    """Dense ``N x H x W`` bool masks from a tensor, an array or
    ``BitmapMasks``.

    Args:
        masks (Tensor | np.ndarray | BitmapMasks): Predicted masks, any
            device.

    Returns:
        np.ndarray: ``N x H x W`` bool.
    """
    if hasattr(masks, 'to_ndarray'):
        masks = masks.to_ndarray()
    array = _to_numpy(masks)
    if array.ndim != 3:
        raise ValueError(f'expected N x H x W masks, got shape {array.shape}')
    return array.astype(bool, copy=False)


def masks_to_rles(masks,
                  shape: Optional[Tuple[int, int]] = None) -> List[dict]:
    """Compressed RLEs (str counts) of predicted masks.

    Args:
        masks (Tensor | np.ndarray | BitmapMasks | list[dict]): ``N x H x W``
            masks, or a list of RLEs (normalised, polygons need ``shape``).
        shape (tuple[int, int], optional): ``(h, w)`` for polygon input.

    Returns:
        list[dict]: ``N`` RLEs ``{'size': [h, w], 'counts': str}``.
    """
    if _is_rle_list(masks) or (isinstance(masks,
                                          (list, tuple)) and len(masks) == 0):
        h, w = shape if shape is not None else (None, None)
        return [to_rle(m, h, w) for m in masks]
    array = masks_to_numpy(masks)
    if array.shape[0] == 0:
        return []
    encoded = mask_util.encode(
        np.asfortranarray(array.transpose(1, 2, 0).astype(np.uint8)))
    return [
        dict(
            size=[int(r['size'][0]), int(r['size'][1])],
            counts=r['counts'].decode('ascii')) for r in encoded
    ]


def _image_id(sample) -> int:
    img_id = _get(sample, 'img_id')
    if img_id is None:
        raise ValueError('a predicted data sample has no "img_id" in its '
                         'metainfo')
    return int(img_id)


def sample_level_predictions(sample) -> Dict[str, dict]:
    """Masks and scores of every level a data sample predicts.

    Args:
        sample (DetDataSample | dict): A predicted sample or its
            ``to_dict()`` form.

    Returns:
        dict[str, dict]: Per level present, ``masks`` (as stored: tensor,
        array, ``BitmapMasks`` or RLE list), ``scores`` (``N`` float64)
        and, when the level's instances carry them, ``mask_scores`` (``N``
        float64: each mask's mean probability over its pixels, e.g.
        CropFormer's, for re-scoring; docs/formats.md section 2).
    """
    out = {}
    for level, field in PRED_FIELDS.items():
        inst = _get(sample, field)
        if inst is None:
            continue
        masks = _get(inst, 'masks')
        scores = _get(inst, 'scores')
        if masks is None or scores is None:
            raise ValueError(f'image id {_image_id(sample)}: {field} needs '
                             '"masks" and "scores"')
        scores = _to_numpy(scores).astype(np.float64).reshape(-1)
        num = len(masks)
        if num != len(scores):
            raise ValueError(f'image id {_image_id(sample)}: {field} has '
                             f'{num} masks but {len(scores)} scores')
        out[level] = dict(masks=masks, scores=scores)
        mask_scores = _get(inst, 'mask_scores')
        if mask_scores is not None:
            mask_scores = _to_numpy(mask_scores).astype(
                np.float64).reshape(-1)
            if len(mask_scores) != num:
                raise ValueError(f'image id {_image_id(sample)}: {field} '
                                 f'has {num} masks but {len(mask_scores)} '
                                 'mask_scores')
            out[level]['mask_scores'] = mask_scores
    return out


def sample_link_predictions(sample) -> Dict[str, dict]:
    """Links of every link type a data sample predicts.

    Args:
        sample (DetDataSample | dict): A predicted sample or its
            ``to_dict()`` form.

    Returns:
        dict[str, dict]: Per link type present, ``parents`` and
        ``children`` (``L`` int64 rows into the parent / child level's
        predictions) and ``scores`` (``L`` float64).
    """
    out = {}
    for link_type, field in LINK_FIELDS.items():
        inst = _get(sample, field)
        if inst is None:
            continue
        values = [
            _get(inst, key)
            for key in ('parent_index', 'child_index', 'scores')
        ]
        if any(v is None for v in values):
            raise ValueError(f'image id {_image_id(sample)}: {field} needs '
                             '"parent_index", "child_index" and "scores"')
        parents, children, scores = (_to_numpy(v).reshape(-1) for v in values)
        if not len(parents) == len(children) == len(scores):
            raise ValueError(f'image id {_image_id(sample)}: {field} has '
                             f'{len(parents)} parent_index, '
                             f'{len(children)} child_index and '
                             f'{len(scores)} scores')
        out[link_type] = dict(
            parents=parents.astype(np.int64),
            children=children.astype(np.int64),
            scores=scores.astype(np.float64))
    return out


def sample_prompted_predictions(sample) -> Optional[List[dict]]:
    """Drill-down outputs of a data sample, one entry per prompt.

    Args:
        sample (DetDataSample | dict): A predicted sample or its
            ``to_dict()`` form, with ``drill_down_prompts`` in its metainfo
            and ``pred_prompted_instances`` (docs/data_sample.md section 2).

    Returns:
        list[dict] | None: Per prompt of ``drill_down_prompts``, in order:
        ``prompt`` (its metainfo entry), ``rles`` (its output masks as
        compressed RLEs, in row order) and ``scores`` (float64). None when
        the sample has no drill-down output.
    """
    prompts = _get(sample, 'drill_down_prompts')
    inst = _get(sample, PROMPTED_FIELD)
    if prompts is None or inst is None:
        return None
    values = [_get(inst, key) for key in ('masks', 'scores', 'prompt_index')]
    if any(v is None for v in values):
        raise ValueError(f'image id {_image_id(sample)}: {PROMPTED_FIELD} '
                         'needs "masks", "scores" and "prompt_index"')
    rles = masks_to_rles(values[0], _get(sample, 'ori_shape'))
    scores = _to_numpy(values[1]).astype(np.float64).reshape(-1)
    index = _to_numpy(values[2]).astype(np.int64).reshape(-1)
    if not len(rles) == len(scores) == len(index):
        raise ValueError(f'image id {_image_id(sample)}: {PROMPTED_FIELD} '
                         f'has {len(rles)} masks, {len(scores)} scores and '
                         f'{len(index)} prompt_index')
    bad = index[(index < 0) | (index >= len(prompts))]
    if len(bad):
        raise ValueError(f'image id {_image_id(sample)}: {PROMPTED_FIELD} '
                         f'names prompt {int(bad[0])}, but the sample has '
                         f'{len(prompts)} drill_down_prompts')
    out = []
    for row, prompt in enumerate(prompts):
        rows = np.flatnonzero(index == row)
        out.append(
            dict(
                prompt=prompt,
                rles=[rles[i] for i in rows],
                scores=scores[rows]))
    return out


def samples_to_predictions(data_samples: Sequence, start_id: int = 1) -> dict:
    """Prediction file dict (docs/formats.md section 2) of predicted samples.

    Masks are listed sample by sample, then level by level (part, entity,
    relation), then row by row, then the drill-down outputs prompt by
    prompt, with consecutive ids from ``start_id``; links refer to those
    ids. Samples with drill-down outputs
    (:func:`sample_prompted_predictions`) add a ``prompts`` list (ids from
    ``start_id``) that their masks name by ``prompt_id``.

    Args:
        data_samples (Sequence[DetDataSample | dict]): Predicted samples
            (docs/data_sample.md section 2) or their ``to_dict()`` form.
            Masks must be at the original image size.
        start_id (int): Id of the first mask.

    Returns:
        dict: ``{'masks': [...], 'links': [...]}``, and ``prompts`` when a
        sample has drill-down outputs.

    Raises:
        ValueError: If a sample has no ``img_id``, a field is incomplete or
            a link index points outside its level's predictions.
    """
    masks: List[dict] = []
    links: List[dict] = []
    prompts: List[dict] = []
    with_prompts = False
    next_id = start_id
    for sample in data_samples:
        img_id = _image_id(sample)
        ids: Dict[str, np.ndarray] = {}
        for level, preds in sample_level_predictions(sample).items():
            shape = _get(sample, 'ori_shape')
            rles = masks_to_rles(preds['masks'], shape)
            for rle in rles[:1]:
                if shape is not None and list(
                        rle['size']) != [int(s) for s in shape[:2]]:
                    raise ValueError(
                        f'image id {img_id}: {PRED_FIELDS[level]} masks '
                        f'are {rle["size"]}, but must be at ori_shape '
                        f'{list(shape[:2])}')
            ids[level] = np.arange(next_id, next_id + len(rles))
            next_id += len(rles)
            mask_scores = preds.get('mask_scores')
            for row, (mask_id, rle, score) in enumerate(
                    zip(ids[level].tolist(), rles, preds['scores'].tolist())):
                masks.append(
                    dict(
                        id=mask_id,
                        image_id=img_id,
                        level=level,
                        segmentation=rle,
                        score=score))
                if mask_scores is not None:
                    masks[-1]['mask_score'] = float(mask_scores[row])
        for link_type, link in sample_link_predictions(sample).items():
            parent, child = _LINK_LEVELS[link_type]
            parent_ids = _rows_to_ids(
                ids.get(parent), link['parents'], img_id, link_type, parent)
            child_ids = _rows_to_ids(
                ids.get(child), link['children'], img_id, link_type, child)
            for p, c, s in zip(parent_ids, child_ids, link['scores'].tolist()):
                links.append(
                    dict(
                        image_id=img_id,
                        type=link_type,
                        parent_id=p,
                        child_id=c,
                        score=s))
        outputs = sample_prompted_predictions(sample)
        with_prompts = with_prompts or outputs is not None
        for output in outputs or []:
            prompt_id = len(prompts) + start_id
            prompts.append(
                dict(
                    id=prompt_id,
                    image_id=img_id,
                    **{
                        key: output['prompt'][key]
                        for key in PROMPT_KEYS if key in output['prompt']
                    }))
            if output['prompt'].get('perturbation'):
                # a rough prompt: the file says what the model was given
                prompts[-1]['segmentation'] = output['prompt']['mask']
            if output['prompt'].get('rough'):
                # ... and whether it was told the prompt is rough
                prompts[-1]['rough'] = True
            for rle, score in zip(output['rles'], output['scores'].tolist()):
                masks.append(
                    dict(
                        id=next_id,
                        image_id=img_id,
                        level=output['prompt'].get('level') or
                        _LINK_LEVELS[output['prompt']['type']][1],
                        segmentation=rle,
                        score=score,
                        prompt_id=prompt_id))
                next_id += 1
    out = dict(masks=masks, links=links)
    if with_prompts:
        out['prompts'] = prompts
    return out


def _rows_to_ids(ids: Optional[np.ndarray], rows: np.ndarray, img_id: int,
                 link_type: str, level: str) -> List[int]:
    num = 0 if ids is None else len(ids)
    bad = rows[(rows < 0) | (rows >= num)]
    if len(bad):
        raise ValueError(
            f'image id {img_id}: a link of type "{link_type}" '
            f'points at {level} prediction {int(bad[0])}, but the sample '
            f'has {num} {level} predictions')
    return [] if ids is None else ids[rows].tolist()


def merge_predictions(predictions: Sequence[dict], start_id: int = 1) -> dict:
    """Concatenate prediction dicts, renumbering mask ids to stay unique.

    Each input must have ids unique within itself (e.g. one
    :func:`samples_to_predictions` output per image, gathered from several
    ranks); links are remapped with their masks. Drill-down ``prompts`` are
    renumbered the same way (from ``start_id``) and the masks'
    ``prompt_id`` with them; the result has ``prompts`` when an input has.

    Args:
        predictions (Sequence[dict]): Prediction dicts.
        start_id (int): Id of the first mask of the result.

    Returns:
        dict: ``{'masks': [...], 'links': [...]}`` with ids
        ``start_id, start_id + 1, ...`` in input order.
    """
    masks: List[dict] = []
    links: List[dict] = []
    prompts: List[dict] = []
    next_id = start_id
    with_prompts = any('prompts' in part for part in predictions)
    for part_no, part in enumerate(predictions):
        prompt_ids = {}
        for prompt in part.get('prompts', []):
            if prompt['id'] in prompt_ids:
                raise ValueError(f'prediction part {part_no}: duplicate '
                                 f'prompt id {prompt["id"]}')
            prompt_ids[prompt['id']] = len(prompts) + start_id
            prompts.append(dict(prompt, id=prompt_ids[prompt['id']]))
        mapping = {}
        for mask in part.get('masks', []):
            if mask['id'] in mapping:
                raise ValueError(f'prediction part {part_no}: duplicate mask '
                                 f'id {mask["id"]}')
            mapping[mask['id']] = next_id
            mask = dict(mask, id=next_id)
            if mask.get('prompt_id') is not None:
                if mask['prompt_id'] not in prompt_ids:
                    raise ValueError(
                        f'prediction part {part_no}: mask prompt_id '
                        f'{mask["prompt_id"]} is not a prompt id')
                mask['prompt_id'] = prompt_ids[mask['prompt_id']]
            masks.append(mask)
            next_id += 1
        for link in part.get('links', []):
            for key in ('parent_id', 'child_id'):
                if link[key] not in mapping:
                    raise ValueError(f'prediction part {part_no}: link '
                                     f'{key} {link[key]} is not a mask id')
            links.append(
                dict(
                    link,
                    parent_id=mapping[link['parent_id']],
                    child_id=mapping[link['child_id']]))
    out = dict(masks=masks, links=links)
    if with_prompts:
        out['prompts'] = prompts
    return out


def _image_sizes(gt) -> Optional[Dict[int, Tuple[int, int]]]:
    """``{image id: (h, w)}`` of an annotation dict, path or GT index."""
    if gt is None:
        return None
    if isinstance(gt, str):
        # JSON only, whatever the extension: never unpickle a user's file
        gt = load_annotation_file(gt)
    if isinstance(gt, dict) and 'images' in gt:
        sizes = {}
        for img in gt['images']:
            if 'height' not in img or 'width' not in img:
                raise ValueError(f'ground truth image id {img.get("id")}: '
                                 'missing "height" / "width"')
            sizes[img['id']] = (int(img['height']), int(img['width']))
        return sizes
    images = getattr(gt, 'images', None)
    if isinstance(images, dict):
        return {
            img_id: (int(img.height), int(img.width))
            for img_id, img in images.items()
        }
    raise TypeError('gt must be an annotation dict, a path to one, or an '
                    f'object with an "images" dict, got {type(gt).__name__}')


def _check_size(segm: dict, expected: Tuple[int, int], where: str) -> None:
    """Raise ValueError if an RLE's ``size`` is not the image's."""
    size = [int(s) for s in segm.get('size', [])]
    if size != list(expected):
        raise ValueError(f'{where}: mask size {size} differs from the '
                         f'image size {list(expected)}')


def _is_score(value) -> bool:
    return isinstance(
        value,
        numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def validate_predictions(predictions: dict,
                         gt=None,
                         file_name: str = 'predictions',
                         normalize: bool = True) -> dict:
    """Check a prediction dict (docs/formats.md section 2).

    Args:
        predictions (dict): ``masks`` and optional ``links``.
        gt (dict | str | FederatedGroundTruth, optional): The ground truth
            (annotation dict, its path, or an index with an ``images`` dict
            of objects with ``height`` / ``width``). When given, image ids
            must exist in it and masks must have their image's size.
        file_name (str): Name used in error messages.
        normalize (bool): Return masks with every segmentation as a
            compressed RLE with str counts (polygons need ``gt``).

    Returns:
        dict: The predictions (with normalised segmentations if
        ``normalize``; other keys are kept as they are).

    Raises:
        ValueError: Naming the file and the offending mask id / link /
            prompt: unknown image id, unknown level, duplicate or unknown
            mask or prompt id, a mask on another image than its prompt, a
            link to a drill-down output,
            wrong link type (unknown type, or parent / child of the wrong
            level), link and mask on different images, bad score, or a mask
            whose size is not its image's.
    """
    if not isinstance(predictions, dict) or not isinstance(
            predictions.get('masks'), list):
        raise ValueError(f'{file_name}: not a prediction file (needs a '
                         '"masks" list)')
    links = predictions.get('links', [])
    if not isinstance(links, list):
        raise ValueError(f'{file_name}: "links" must be a list')
    sizes = _image_sizes(gt)
    prompts = _validate_prompts(predictions, sizes, file_name)
    masks_out = []
    by_id: Dict[object, dict] = {}
    for index, mask in enumerate(predictions['masks']):
        where = _check_entry(mask, f'masks[{index}]', 'mask',
                             ('id', 'image_id', 'level', 'segmentation',
                              'score'), by_id, sizes, file_name)
        if mask['level'] not in LEVELS:
            raise ValueError(f'{where}: unknown level "{mask["level"]}"; '
                             f'expected one of {", ".join(LEVELS)}')
        if not _is_score(mask['score']):
            raise ValueError(f'{where}: score must be a finite number, got '
                             f'{mask["score"]!r}')
        if 'mask_score' in mask and not (_is_score(mask['mask_score'])
                                         and 0 <= mask['mask_score'] <= 1):
            raise ValueError(f'{where}: mask_score must be a number in '
                             f'[0, 1], got {mask["mask_score"]!r}')
        prompt_id = mask.get('prompt_id')
        if prompt_id is not None:
            _check_int(prompt_id, 'prompt_id', where)
            if prompt_id not in prompts:
                raise ValueError(f'{where}: prompt_id {prompt_id!r} is not '
                                 'the id of an entry of "prompts"')
            if prompts[prompt_id]['image_id'] != mask['image_id']:
                raise ValueError(f'{where}: prompt_id {prompt_id} is a '
                                 'prompt of image id '
                                 f'{prompts[prompt_id]["image_id"]}')
        segm = mask['segmentation']
        if sizes is not None and isinstance(segm, dict):
            _check_size(segm, sizes[mask['image_id']], where)
        if normalize:
            h, w = sizes[mask['image_id']] if sizes else (None, None)
            if isinstance(segm, list) and sizes is None:
                raise ValueError(f'{where}: polygon segmentation needs the '
                                 'ground truth image size')
            try:
                segm = to_rle(segm, h, w)
            except Exception as e:
                raise ValueError(f'{where}: bad segmentation: {e}') from e
            mask = dict(mask, segmentation=segm)
        by_id[mask['id']] = mask
        masks_out.append(mask)
    for index, link in enumerate(links):
        where = f'{file_name}: links[{index}]'
        if not isinstance(link, dict):
            raise ValueError(f'{where} is not an object')
        for key in ('image_id', 'type', 'parent_id', 'child_id', 'score'):
            if key not in link:
                raise ValueError(f'{where} has no "{key}"')
        for key in ('image_id', 'parent_id', 'child_id'):
            _check_int(link[key], key, where)
        where += f' (image id {link["image_id"]})'
        if link['type'] not in _LINK_LEVELS:
            raise ValueError(f'{where}: wrong link type "{link["type"]}"; '
                             f'expected one of {", ".join(_LINK_LEVELS)}')
        if sizes is not None and link['image_id'] not in sizes:
            raise ValueError(f'{where}: unknown image id {link["image_id"]} '
                             '(not in the ground truth)')
        if not _is_score(link['score']):
            raise ValueError(f'{where}: score must be a finite number, got '
                             f'{link["score"]!r}')
        for role, level in zip(('parent_id', 'child_id'),
                               _LINK_LEVELS[link['type']]):
            target = by_id.get(link[role])
            if target is None:
                raise ValueError(f'{where}: {role} {link[role]} is an '
                                 'unknown mask id')
            if target['level'] != level:
                raise ValueError(
                    f'{where}: wrong link type: a "{link["type"]}" link '
                    f'needs a {level} {role.split("_")[0]}, but mask id '
                    f'{link[role]} is a {target["level"]}')
            if target.get('prompt_id') is not None:
                raise ValueError(f'{where}: {role} {link[role]} is a '
                                 'drill-down output (it has a prompt_id); '
                                 'links join one-step masks only')
            if target['image_id'] != link['image_id']:
                raise ValueError(f'{where}: {role} {link[role]} is a mask of '
                                 f'image id {target["image_id"]}')
    out = dict(predictions, masks=masks_out, links=links)
    if 'prompts' in predictions:
        out['prompts'] = list(prompts.values())
    return out


def _check_int(value, key: str, where: str) -> None:
    """Ids are JSON integers: ``"9"`` and ``9`` are not the same image, so
    a string id is an error rather than a silent mismatch."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f'{where}: {key} must be an integer, got '
                         f'{value!r} ({type(value).__name__})')


def _check_entry(entry, position: str, kind: str, keys: Sequence[str],
                 seen: dict, sizes: Optional[dict], file_name: str) -> str:
    """Check what every mask and prompt entry needs (an object with
    ``keys``, a new id, a known image id); return its name for messages."""
    if not isinstance(entry, dict):
        raise ValueError(f'{file_name}: {position} is not an object')
    for key in keys:
        if key not in entry:
            raise ValueError(f'{file_name}: {position} (id '
                             f'{entry.get("id")}) has no "{key}"')
    for key in ('id', 'image_id'):
        _check_int(entry[key], key, f'{file_name}: {position}')
    where = f'{file_name}: {kind} id {entry["id"]} (image id ' \
            f'{entry["image_id"]})'
    if entry['id'] in seen:
        raise ValueError(f'{where}: duplicate {kind} id')
    if sizes is not None and entry['image_id'] not in sizes:
        raise ValueError(f'{where}: unknown image id {entry["image_id"]} '
                         '(not in the ground truth)')
    return where


def _validate_prompts(predictions: dict, sizes: Optional[dict],
                      file_name: str) -> Dict[object, dict]:
    """Check the ``prompts`` list; return it by id."""
    prompts = predictions.get('prompts', [])
    if not isinstance(prompts, list):
        raise ValueError(f'{file_name}: "prompts" must be a list')
    by_id: Dict[object, dict] = {}
    for index, prompt in enumerate(prompts):
        where = _check_entry(prompt, f'prompts[{index}]', 'prompt',
                             ('id', 'image_id', 'type', 'ann_id'), by_id,
                             sizes, file_name)
        if prompt['type'] not in _LINK_LEVELS:
            raise ValueError(f'{where}: unknown type "{prompt["type"]}"; '
                             f'expected one of {", ".join(_LINK_LEVELS)}')
        _check_int(prompt['ann_id'], 'ann_id', where)
        if not isinstance(prompt.get('rough', False), bool):
            raise ValueError(f'{where}: rough must be true or false, got '
                             f'{prompt["rough"]!r}')
        segm = prompt.get('segmentation')
        if segm is not None:
            # the (rough) prompt the system was given
            if not isinstance(segm, dict):
                raise ValueError(f'{where}: a prompt segmentation must be '
                                 'an RLE')
            if sizes is not None:
                _check_size(segm, sizes[prompt['image_id']], where)
            try:
                segm = to_rle(segm, *segm.get('size', (None, None)))
            except Exception as e:
                raise ValueError(f'{where}: bad segmentation: {e}') from e
            prompt = dict(prompt, segmentation=segm)
        by_id[prompt['id']] = prompt
    return by_id


def load_predictions(path: Union[str, dict],
                     gt=None,
                     backend_args: Optional[dict] = None) -> dict:
    """Read and validate a prediction file (docs/formats.md section 2).

    Args:
        path (str | dict): The JSON file, or an already parsed dict.
        gt (dict | str | FederatedGroundTruth, optional): Ground truth to
            check image ids and mask sizes against (see
            :func:`validate_predictions`).
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        dict: The predictions, segmentations as compressed RLEs with str
        counts.

    Raises:
        ValueError: See :func:`validate_predictions`; the message starts
            with ``path``.
    """
    if isinstance(path, dict):
        return validate_predictions(path, gt)
    from mmengine.fileio import load
    try:
        predictions = load(path, file_format='json', backend_args=backend_args)
    except ValueError as e:
        raise ValueError(f'{path}: not valid JSON: {e}') from e
    return validate_predictions(predictions, gt, file_name=str(path))
