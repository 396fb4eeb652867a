"""Nearest neighbours in one descriptor's index, or a weighted fusion of several.

Fused score (``--by style``):  s(q, x) = sum_i w_i cos_i(q, x),  sum_i w_i = 1,
then the content discount  s - lambda cos_content(q, x) (1 - s)  (``content_discounted``).
Candidates are the union of each weighted component's top k' (k' = max(10 k, 256), capped by
the collection size); every candidate is then scored exactly on every component, so an item
that is second-best on all components is not lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stylesim.descriptors import STYLE_CONTENT_DISCOUNT, STYLE_FUSION
from stylesim.errors import StylesimError
from stylesim.index.codec import vectors_for
from stylesim.index.store import IndexStore

FUSED = {"style": STYLE_FUSION}
CONTENT_DISCOUNTS = {"style": STYLE_CONTENT_DISCOUNT}


@dataclass
class Hit:
    id: int
    score: float
    scores: dict[str, float] = field(default_factory=dict)  # per component, for fused searches


def search_modes(store: IndexStore) -> list[str]:
    """What ``--by`` accepts for this index."""
    return [*FUSED, *store.descriptors]


def fusion_weights(by: str, store: IndexStore) -> dict[str, float]:
    if by in store.descriptors:
        return {by: 1.0}
    if by in FUSED:
        weights = {n: w for n, w in FUSED[by].items() if n in store.descriptors}
        total = sum(weights.values())
        return {n: w / total for n, w in weights.items()}
    raise StylesimError(f"unknown --by {by!r}; this index offers: {', '.join(search_modes(store))}")


def content_discount(by: str, store: IndexStore) -> float:
    """The content discount lambda of ``--by`` (0 for single descriptors, or without a content index)."""
    return CONTENT_DISCOUNTS.get(by, 0.0) if "content" in store.descriptors else 0.0


def query_descriptors(by: str, store: IndexStore) -> list[str]:
    """The descriptors a query needs for ``--by``: the fused ones, and content for the discount."""
    names = list(fusion_weights(by, store))
    return names + ["content"] if content_discount(by, store) and "content" not in names else names


def content_discounted(style: np.ndarray, content: np.ndarray, discount: float) -> np.ndarray:
    """s - lambda c (1 - s): a candidate that shows the query's content (cosine c) in another
    look (style score s below 1) is pushed down in proportion to both; one with the query's
    look (s = 1) keeps its score, whatever it shows."""
    return style - discount * content * (1.0 - style)


def search_vectors(
    store: IndexStore,
    queries: dict[str, np.ndarray],
    by: str,
    k: int,
    weights: dict[str, float] | None = None,
    discount: float | None = None,
) -> list[list[Hit]]:
    """Top ``k`` hits per query (all items when k exceeds the collection), best first.
    ``weights`` (descriptor -> weight) overrides the fusion that ``by`` names, and ``discount``
    its content discount (0 when ``weights`` is given); each descriptor's query vectors may come
    from a different image (style of A, content of B)."""
    if k < 1:
        raise StylesimError(f"-k must be at least 1, got {k}")
    if discount is None:
        discount = 0.0 if weights else content_discount(by, store)
    weights = weights or fusion_weights(by, store)
    n_items = len(store)
    n_queries = len(next(iter(queries.values())))
    if n_items == 0:
        return [[] for _ in range(n_queries)]
    k = min(k, n_items)
    if len(weights) == 1 and not discount:
        (name,) = weights
        scores, ids = store.vectors[name].search(np.ascontiguousarray(queries[name], np.float32), k)
        return [[Hit(int(i), float(s)) for s, i in zip(srow, irow) if i >= 0] for srow, irow in zip(scores, ids)]
    k_candidates = min(n_items, max(10 * k, 256))
    per_component = {n: store.vectors[n].search(np.ascontiguousarray(queries[n], np.float32), k_candidates) for n in weights}
    scored = [*weights, "content"] if discount and "content" not in weights else list(weights)
    results = []
    for q in range(n_queries):
        candidates = np.unique(np.concatenate([per_component[n][1][q] for n in weights]))
        candidates = candidates[candidates >= 0]
        component_scores = {n: vectors_for(store.vectors[n], candidates) @ queries[n][q] for n in scored}
        fused = sum(w * component_scores[n] for n, w in weights.items())
        if discount:
            fused = content_discounted(fused, component_scores["content"], discount)
        order = np.argsort(-fused, kind="stable")[:k]
        results.append([
            Hit(int(candidates[j]), float(fused[j]), {n: float(component_scores[n][j]) for n in scored}) for j in order
        ])
    return results


@dataclass
class Group:
    key: str  # the item's path: the video's for frames, the image's otherwise
    score: float  # the best hit's score
    hits: list[Hit]  # the group's best hits, best first


def search_grouped(store: IndexStore, queries: dict[str, np.ndarray], by: str, k: int, per_group: int = 3) -> list[list[Group]]:
    """Top ``k`` videos (or lone images) per query, ranked by their best frame, each with its
    ``per_group`` best frames. Searches deeper until ``k`` groups are found or the whole
    collection has been ranked."""
    n_items = len(store)
    keys = store.items["path"]  # a frame's path is its video's
    depth = min(n_items, max(20 * k, 100))
    while True:
        per_query = search_vectors(store, queries, by, depth)
        grouped = []
        for hits in per_query:
            groups: dict[str, Group] = {}
            for hit in hits:
                key = keys.loc[hit.id]
                group = groups.get(key)
                if group is None:
                    groups[key] = Group(key, hit.score, [hit])
                elif len(group.hits) < per_group:
                    group.hits.append(hit)
            grouped.append(list(groups.values()))  # insertion order = best hit first
        if depth >= n_items or all(len(g) >= k for g in grouped):
            return [g[:k] for g in grouped]
        depth = min(n_items, depth * 4)
