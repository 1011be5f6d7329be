# Copyright (c) mmaims contributors. All rights reserved.
"""The hierarchy view of a prediction: relation -> entities -> parts.

The prediction file (docs/formats.md section 2) lists scored links between
every kept pair of masks; an editing tool wants a tree.
:func:`build_hierarchy` reads it as one:

- a mask is shown when its score is above ``score_thr``;
- each shown part hangs under the shown entity of its best-scoring
  entity-part link (a part has one whole); a part without such a link is
  listed in the top-level ``parts``;
- each shown relation holds the (at most) two shown entities of its
  best-scoring relation-entity links (a relation is two entities in
  contact); an entity may belong to several relations, so it can appear
  under more than one relation node;
- entities that belong to no relation are listed in the top-level
  ``entities``.
"""
from collections import defaultdict
from typing import Dict, List, Optional

from .levels import ENTITY, PART, RELATION
from .mask import rle_area, rle_bbox


def _node(mask: dict) -> dict:
    return dict(
        id=mask['id'],
        level=mask['level'],
        score=float(mask['score']),
        area=rle_area(mask['segmentation']),
        bbox=rle_bbox(mask['segmentation']))


def _best_links(links: List[dict], link_type: str, kept: Dict[int, dict],
                parent_level: str, child_level: str) -> List[dict]:
    """Links of one type between shown masks, best first."""
    out = [
        link for link in links if link['type'] == link_type
        and kept.get(link['parent_id'], {}).get('level') == parent_level
        and kept.get(link['child_id'], {}).get('level') == child_level
    ]
    return sorted(out, key=lambda link: -float(link['score']))


def build_hierarchy(predictions: dict,
                    score_thr: float = 0.0,
                    image_id: Optional[int] = None,
                    prompt: Optional[dict] = None) -> dict:
    """Tree of one image's prediction (see the module docstring).

    Args:
        predictions (dict): A prediction dict of docs/formats.md section 2.
        score_thr (float): Masks with a score ``<= score_thr`` are left
            out (and so are their links). Defaults to 0.
        image_id (int, optional): Image to read when ``predictions`` holds
            several. Defaults to the image of the first mask.
        prompt (dict, optional): Prompt inference record (``decoder``,
            ``prompt_type``, ``level``) copied to the result.

    Returns:
        dict: ``image_id``, ``score_thr``, ``num_masks`` (shown masks per
        level), ``relations`` (nodes with ``entities``), ``entities``
        (entities in no relation, with ``parts``), ``parts`` (parts with no
        entity) and, with ``prompt``, ``prompt``. A node has ``id``,
        ``level``, ``score``, ``area``, ``bbox`` (``[x, y, w, h]``); a node
        under a parent also has ``link_score``. Lists are sorted by
        decreasing score.
    """
    masks = predictions.get('masks', [])
    if image_id is None and masks:
        image_id = masks[0]['image_id']
    kept = {
        m['id']: m
        for m in masks
        if m['image_id'] == image_id and float(m['score']) > score_thr
    }
    links = [
        link for link in predictions.get('links', [])
        if link['image_id'] == image_id
    ]

    parts_of = defaultdict(list)
    placed_parts = set()
    for link in _best_links(links, 'entity-part', kept, ENTITY, PART):
        if link['child_id'] in placed_parts:
            continue
        placed_parts.add(link['child_id'])
        parts_of[link['parent_id']].append(
            dict(
                _node(kept[link['child_id']]),
                link_score=float(link['score'])))

    def entity_node(entity_id: int, **extra) -> dict:
        parts = sorted(parts_of[entity_id], key=lambda n: -n['score'])
        return dict(_node(kept[entity_id]), **extra, parts=parts)

    entities_of = defaultdict(list)
    for link in _best_links(links, 'relation-entity', kept, RELATION, ENTITY):
        children = entities_of[link['parent_id']]
        if len(children) < 2:
            children.append((link['child_id'], float(link['score'])))

    by_score = sorted(kept.values(), key=lambda m: -float(m['score']))
    relations, related = [], set()
    for mask in by_score:
        if mask['level'] != RELATION:
            continue
        children = entities_of[mask['id']]
        related.update(child for child, _ in children)
        relations.append(
            dict(
                _node(mask),
                entities=[
                    entity_node(child, link_score=score)
                    for child, score in children
                ]))
    entities = [
        entity_node(m['id']) for m in by_score
        if m['level'] == ENTITY and m['id'] not in related
    ]
    parts = [
        _node(m) for m in by_score
        if m['level'] == PART and m['id'] not in placed_parts
    ]
    num_masks = {
        level: sum(m['level'] == level for m in kept.values())
        for level in (PART, ENTITY, RELATION)
    }
    tree = dict(
        image_id=image_id,
        score_thr=score_thr,
        num_masks=num_masks,
        relations=relations,
        entities=entities,
        parts=parts)
    if prompt is not None:
        tree['prompt'] = dict(prompt)
    return tree


def hierarchy_edges(tree: dict) -> List[tuple]:
    """The (parent id, child id, link score) edges of a hierarchy tree,
    each once (an entity under two relations gives one edge to its parts).
    """
    edges, seen = [], set()

    def add(parent: int, node: dict) -> None:
        key = (parent, node['id'])
        if key not in seen:
            seen.add(key)
            edges.append((parent, node['id'], node['link_score']))

    for relation in tree['relations']:
        for entity in relation['entities']:
            add(relation['id'], entity)
            for part in entity['parts']:
                add(entity['id'], part)
    for entity in tree['entities']:
        for part in entity['parts']:
            add(entity['id'], part)
    return edges


def hierarchy_nodes(tree: dict) -> Dict[str, List[dict]]:
    """Every node of a hierarchy tree once, per level, in tree order."""
    nodes = {PART: [], ENTITY: [], RELATION: []}
    seen = set()

    def add(node: dict) -> None:
        if node['id'] not in seen:
            seen.add(node['id'])
            nodes[node['level']].append(node)

    for relation in tree['relations']:
        add(relation)
        for entity in relation['entities']:
            add(entity)
    for entity in tree['entities']:
        add(entity)
    # parts in the order of their entities, then the loose ones
    for entity in nodes[ENTITY]:
        for part in entity['parts']:
            add(part)
    for part in tree['parts']:
        add(part)
    return nodes
