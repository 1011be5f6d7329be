# Copyright (c) mmaims contributors. All rights reserved.
"""Evaluation sets and a leakage-free union training file.

The AIMS supplement (Sec. 1) evaluates on 1,069 PPP images (part + entity)
and 1,000 COCO-PSG images (entity + relation), and trains on the union of the
five sources minus every evaluation image. The selection here:

* PPP pool: converted PPP images whose ``source_split`` is in ``ppp_pool``
  (default ``validation``) and whose ``levels`` include part and entity;
* PSG pool: converted PSG images whose ``source_split`` is in ``psg_pool``
  (default ``test``, PSG's own held-out ``test_image_ids``) and whose
  ``levels`` include entity and relation (at least one relation kept);
* from each pool, sorted by image id, ``random.Random(seed).sample`` picks
  the requested number; a smaller pool is taken whole and the report says so.

Every image is identified by keys: ``('coco', id)`` for COCO images (COCO
panoptic ids, PSG ``coco_image_id``, PACO-LVIS file names, EntitySeg
``coco_`` names, all stored by the converters as ``coco_image_id``),
``('voc', stem)`` for PPP, and ``(source, source_image_id)``. A training
image sharing any key with an evaluation image is removed.
"""
import os
import os.path as osp
import random
from collections import Counter, defaultdict
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from tqdm import tqdm

from mmaims.structures import ENTITY, PART, RELATION
from mmaims.utils.file_io import dump_json
from .common import ConversionError, HierarchicalCocoWriter, load_json

#: Paper numbers (AIMS supplement Sec. 1).
NUM_EVAL_PPP = 1069
NUM_EVAL_PSG = 1000

Key = Tuple[str, object]


def image_keys(img: dict) -> Set[Key]:
    """Identity keys of an ``images[]`` entry of a converted file."""
    keys: Set[Key] = set()
    source = img.get('source', 'default')
    if img.get('coco_image_id') is not None:
        keys.add(('coco', int(img['coco_image_id'])))
    if source == 'ppp' and img.get('source_image_id') is not None:
        keys.add(('voc', str(img['source_image_id'])))
    sid = img.get('source_image_id', img['id'])
    keys.add((source, str(sid)))
    return keys


def _check_file(data: dict, path: str) -> None:
    for key in ('images', 'annotations'):
        if key not in data:
            raise ConversionError(f'{path}: not a hierarchical COCO file '
                                  f'(no "{key}")')


def _group(data: dict) -> Dict[object, List[dict]]:
    by_image = defaultdict(list)
    for ann in data['annotations']:
        by_image[ann['image_id']].append(ann)
    return by_image


def select_pool(data: dict, pool: Optional[Sequence[str]],
                levels: Sequence[str]) -> List[dict]:
    """Images of ``data`` eligible for evaluation, sorted by id.

    Args:
        data (dict): Converted file.
        pool (list[str], optional): Allowed ``source_split`` values; None
            allows every image.
        levels (list[str]): Levels an image must list.
    """
    out = []
    for img in data['images']:
        if pool is not None and img.get('source_split') not in pool:
            continue
        if not all(level in img.get('levels', []) for level in levels):
            continue
        out.append(img)
    return sorted(out, key=lambda im: str(im['id']))


class UnionBuilder:
    """Stream images of several converted files into one file, fresh ids.

    Image ids become 1..N and annotation ids 1..M; ``entity_id`` /
    ``entity_ids`` are remapped (and checked) by
    :class:`HierarchicalCocoWriter`. Each image keeps (or gains)
    ``source_image_id``. ``categories`` is empty because the sources'
    category ids clash; each source's list is under ``source_categories``.

    Args:
        out_file (str): Output JSON.
        description (str): ``info.description``.
    """

    def __init__(self, out_file: str, description: str) -> None:
        self.writer = HierarchicalCocoWriter(
            out_file, info=dict(description=description))
        self.source_categories: Dict[str, list] = {}
        self.num_images = 0

    def add(self, img: dict, anns: Iterable[dict], where: str) -> None:
        """Append one image with its annotations (from file ``where``)."""
        new_img = dict(img)
        new_img.setdefault('source_image_id', img['id'])
        new_img['id'] = self.num_images + 1
        try:
            self.writer.add(new_img, list(anns))
        except ConversionError as err:
            raise ConversionError(
                f'{where}, image id {img["id"]}: {err}') from err
        self.num_images += 1

    def close(self) -> None:
        """Write the file."""
        self.writer.extra = dict(source_categories=self.source_categories)
        self.writer.close()


def _sample(pool: List[dict], num: int, seed: int, name: str,
            report: dict) -> List[dict]:
    rng = random.Random(seed)
    if num >= len(pool):
        chosen = list(pool)
        if num > len(pool):
            report['notes'].append(
                f'{name}: {num} evaluation images requested but only '
                f'{len(pool)} are eligible; all {len(pool)} are used')
    else:
        chosen = rng.sample(pool, num)
        chosen.sort(key=lambda im: str(im['id']))
    report['eval'][name] = dict(
        requested=num, eligible=len(pool), selected=len(chosen))
    return chosen


def build_eval_split(
    train_files: Sequence[str],
    out_dir: str,
    ppp_file: Optional[str] = None,
    psg_file: Optional[str] = None,
    num_ppp: int = NUM_EVAL_PPP,
    num_psg: int = NUM_EVAL_PSG,
    seed: int = 0,
    ppp_pool: Optional[Sequence[str]] = ('validation', ),
    psg_pool: Optional[Sequence[str]] = ('test', )
) -> dict:
    """Select the evaluation sets and write the leakage-free training union.

    Writes to ``out_dir``: ``eval_ppp.json``, ``eval_psg.json`` (for each
    given source), ``eval.json`` (their union), ``train.json`` (union of the
    training files minus every evaluation image) and ``split_report.json``
    (the returned dict).

    Args:
        train_files (list[str]): Converted training files (any sources;
            usually all five, including the PPP and PSG files).
        out_dir (str): Output folder.
        ppp_file (str, optional): Converted PPP file to draw from.
        psg_file (str, optional): Converted PSG file to draw from.
        num_ppp (int): PPP evaluation images (paper: 1,069).
        num_psg (int): PSG evaluation images (paper: 1,000).
        seed (int): Seed of the selection.
        ppp_pool (list[str], optional): PPP ``source_split`` values to draw
            from; None for all.
        psg_pool (list[str], optional): PSG ``source_split`` values; None
            for all.

    Returns:
        dict: ``eval`` (per eval source: requested, eligible, selected),
        ``train`` (per training file: source, images read / removed / kept,
        removed per matching key kind), ``train_total`` (removed and kept
        per source, ``coco_images_in_several_sources``: kept COCO images
        that more than one source annotates; they stay in each) and
        ``notes``.
    """
    if ppp_file is None and psg_file is None:
        raise ValueError('give at least one of ppp_file / psg_file')
    report = dict(seed=seed, eval={}, train={}, train_total={}, notes=[])
    # every input is checked before anything is written, and nothing is
    # written before all inputs are read: a typo in a training file must not
    # leave new evaluation files beside an old train.json
    for path in train_files:
        if not osp.isfile(path):
            raise ConversionError(
                f'converted training file "{path}" does not exist')
    eval_keys: Set[Key] = set()
    os.makedirs(out_dir, exist_ok=True)
    eval_builders = []
    eval_union = UnionBuilder(
        osp.join(out_dir, 'eval.json'), f'AIMS evaluation set (seed {seed})')
    for name, path, num, pool, levels in (('ppp', ppp_file, num_ppp, ppp_pool,
                                           (PART, ENTITY)),
                                          ('psg', psg_file, num_psg, psg_pool,
                                           (ENTITY, RELATION))):
        if path is None:
            continue
        data = load_json(path, f'converted {name} file')
        _check_file(data, path)
        chosen = _sample(
            select_pool(data, pool, levels), num, seed, name, report)
        by_image = _group(data)
        single = UnionBuilder(
            osp.join(out_dir, f'eval_{name}.json'),
            f'AIMS {name} evaluation set (seed {seed})')
        single.source_categories[name] = data.get('categories', [])
        eval_union.source_categories[name] = data.get('categories', [])
        for img in chosen:
            eval_keys |= image_keys(img)
            single.add(img, by_image.get(img['id'], []), path)
            eval_union.add(img, by_image.get(img['id'], []), path)
        eval_builders.append(single)
    eval_builders.append(eval_union)

    train = UnionBuilder(
        osp.join(out_dir, 'train.json'),
        f'AIMS training union without evaluation images (seed {seed})')
    total = Counter()
    # COCO images are shared by COCO panoptic, PSG, PACO-LVIS and EntitySeg;
    # they stay in every source (each brings other levels) but are counted.
    coco_sources: Dict[int, Set[str]] = defaultdict(set)
    for path in train_files:
        data = load_json(path, 'converted training file')
        _check_file(data, path)
        by_image = _group(data)
        stats = dict(
            sources=sorted(
                {im.get('source', 'default')
                 for im in data['images']}),
            read=len(data['images']),
            removed=0,
            kept=0,
            removed_by_key=Counter())
        for img in tqdm(data['images'], desc=osp.basename(path), unit='img'):
            src = img.get('source', 'default')
            train.source_categories.setdefault(src, data.get('categories', []))
            hits = image_keys(img) & eval_keys
            if hits:
                stats['removed'] += 1
                total[f'removed/{src}'] += 1
                for kind in sorted({k[0] for k in hits}):
                    stats['removed_by_key'][kind] += 1
                continue
            stats['kept'] += 1
            total[f'kept/{src}'] += 1
            if img.get('coco_image_id') is not None:
                coco_sources[int(img['coco_image_id'])].add(src)
            train.add(img, by_image.get(img['id'], []), path)
        stats['removed_by_key'] = dict(stats['removed_by_key'])
        report['train'][path] = stats
    total['coco_images_in_several_sources'] = sum(
        len(s) > 1 for s in coco_sources.values())
    report['train_total'] = dict(sorted(total.items()))
    for builder in eval_builders + [train]:
        builder.close()
    dump_json(report, osp.join(out_dir, 'split_report.json'), indent=2)
    return report


def format_split_report(report: dict) -> str:
    """Human-readable summary of :func:`build_eval_split`'s report."""
    lines = [f'Evaluation split (seed {report["seed"]})']
    for name, c in report['eval'].items():
        lines.append(f'  eval {name}: selected {c["selected"]} of '
                     f'{c["eligible"]} eligible ({c["requested"]} requested)')
    for path, c in report['train'].items():
        lines.append(f'  train {path} ({", ".join(c["sources"])}): read '
                     f'{c["read"]}, removed {c["removed"]}, kept {c["kept"]}'
                     f' (removed by key: {c["removed_by_key"]})')
    for key, n in report['train_total'].items():
        lines.append(f'  {key}: {n}')
    for text in report['notes']:
        lines.append(f'  note: {text}')
    return '\n'.join(lines)
