"""Nearest neighbours in one descriptor's index, or a weighted fusion of several.

Fused score (``--by style``):  s(q, x) = sum_i w_i cos_i(q, x),  sum_i w_i = 1,
then the content discount  s - lambda cos_content(q, x) (1 - s)  (``content_discounted``).
Candidates are the union of each weighted component's top k' (k' = max(10 k, 256), capped by
the collection size); every candidate is then scored exactly on every component, so an item
that is second-best on all components is not lost.

Relative score (``--by style-relative``), for collections that hold several versions of the
same pictures (restyled variants, filter sets): each item's fused style vector
s = [sqrt(w_i) v_i] minus the mean of its *versions* -- items that show the same picture
(content cosine above the collection's mean + RELATIVE_Z standard deviations, at most
RELATIVE_NEIGHBOURS of them) in another look (fused style cosine below RELATIVE_MAX_STYLE) --
then cosines of those residuals. What remains is how an item differs from the other versions
of its picture, i.e. its look; an item without versions keeps its own vector.
"""

from __future__ import annotations

import weakref
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np

from stylesim.errors import StylesimError
from stylesim.index.codec import vectors_for
from stylesim.index.policy import (
    RELATIVE,
    RELATIVE_MAX_STYLE,
    RELATIVE_NEIGHBOURS,
    RELATIVE_SAMPLE,
    RELATIVE_Z,
    STYLE_CONTENT_DISCOUNT,
    STYLE_FUSION,
)
from stylesim.index.store import IndexStore

FUSED = {"style": STYLE_FUSION, RELATIVE: STYLE_FUSION}
CONTENT_DISCOUNTS = {"style": STYLE_CONTENT_DISCOUNT}

_THRESHOLDS: weakref.WeakKeyDictionary[IndexStore, float] = weakref.WeakKeyDictionary()


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
    """The descriptors a query needs for ``--by``: the fused ones, and content for the discount
    or the versions."""
    names = list(fusion_weights(by, store))
    wants_content = content_discount(by, store) or by == RELATIVE
    return names + ["content"] if wants_content and "content" not in names else names


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
    exclude: Sequence[Collection[int]] | None = None,
) -> list[list[Hit]]:
    """``ranked`` hits, leaving out per query the ids in ``exclude`` (the query itself and exact
    copies of it): the search goes deeper by as many items as are left out."""
    if not exclude:
        return ranked(store, queries, by, k, weights, discount)
    extra = max(len(ids) for ids in exclude)
    hits = ranked(store, queries, by, k + extra, weights, discount)
    return [[h for h in row if h.id not in ids][:k] for row, ids in zip(hits, exclude, strict=True)]


def ranked(
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
        return [
            [Hit(int(i), float(s)) for s, i in zip(srow, irow, strict=True) if i >= 0]
            for srow, irow in zip(scores, ids, strict=True)
        ]
    if by == RELATIVE:
        return search_relative(store, queries, k, weights)
    scored = [*weights, "content"] if discount and "content" not in weights else list(weights)
    results = []
    for q, candidates in enumerate(fusion_candidates(store, queries, weights, k)):
        component_scores = {n: vectors_for(store.vectors[n], candidates) @ queries[n][q] for n in scored}
        fused = sum(w * component_scores[n] for n, w in weights.items())
        if discount:
            fused = content_discounted(fused, component_scores["content"], discount)
        order = np.argsort(-fused, kind="stable")[:k]
        results.append(
            [
                Hit(int(candidates[j]), float(fused[j]), {n: float(component_scores[n][j]) for n in scored})
                for j in order
            ]
        )
    return results


def fusion_candidates(
    store: IndexStore, queries: dict[str, np.ndarray], weights: dict[str, float], k: int
) -> list[np.ndarray]:
    """Per query, the union of each weighted component's top max(10 k, 256) ids."""
    k_candidates = min(len(store), max(10 * k, 256))
    per_component = {
        n: store.vectors[n].search(np.ascontiguousarray(queries[n], np.float32), k_candidates)[1]
        for n in weights
    }
    out = []
    for q in range(len(next(iter(per_component.values())))):
        candidates = np.unique(np.concatenate([per_component[n][q] for n in weights]))
        out.append(candidates[candidates >= 0])
    return out


def stacked_style(vectors: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """[sqrt(w_i) v_i]: one vector whose inner products are the weighted sum of cosines."""
    return np.concatenate(
        [np.sqrt(w) * np.asarray(vectors[n], np.float32) for n, w in weights.items()], axis=1
    )


def version_threshold(content: np.ndarray, z: float = RELATIVE_Z) -> float:
    """Mean + z standard deviations of the content cosines between distinct items of a sample
    (n, dim) of unit vectors: above it, two items show the same picture."""
    sims = np.asarray(content, np.float64) @ np.asarray(content, np.float64).T
    off = sims[~np.eye(len(sims), dtype=bool)]
    return float(off.mean() + z * off.std()) if len(off) else float("inf")


def relative_style(
    style: np.ndarray, versions: np.ndarray, max_style: float = RELATIVE_MAX_STYLE
) -> np.ndarray:
    """s - mean(versions v with <s, v> < max_style), unit length; s itself without any."""
    versions = versions[versions @ style < max_style] if len(versions) else versions
    residual = style - versions.mean(axis=0) if len(versions) else style
    return residual / max(float(np.linalg.norm(residual)), 1e-12)


def version_threshold_of(store: IndexStore) -> float:
    """``version_threshold`` of the collection (a sample of RELATIVE_SAMPLE items), cached."""
    if store not in _THRESHOLDS:
        ids = np.asarray(store.items.index, dtype=np.int64)
        if len(ids) > RELATIVE_SAMPLE:
            ids = np.sort(np.random.default_rng(0).choice(ids, RELATIVE_SAMPLE, replace=False))
        _THRESHOLDS[store] = version_threshold(vectors_for(store.vectors["content"], ids))
    return _THRESHOLDS[store]


def _relative_vectors(
    store: IndexStore, style: np.ndarray, content: np.ndarray, weights: dict[str, float]
) -> np.ndarray:
    """``relative_style`` of each row, its versions looked up in the index."""
    sims, ids = store.vectors["content"].search(
        np.ascontiguousarray(content, np.float32), min(len(store), RELATIVE_NEIGHBOURS + 1)
    )
    threshold = version_threshold_of(store)
    near = [
        row_ids[(row_ids >= 0) & (row_sims > threshold)] for row_sims, row_ids in zip(sims, ids, strict=True)
    ]
    pool = np.unique(np.concatenate(near))  # every version once
    pool_style = stacked_style({n: vectors_for(store.vectors[n], pool) for n in weights}, weights)
    return np.stack(
        [
            relative_style(s, pool_style[np.searchsorted(pool, versions)])
            for s, versions in zip(style, near, strict=True)
        ]
    )


def relative_style_vectors(store: IndexStore, ids: np.ndarray, weights: dict[str, float]) -> np.ndarray:
    """(len(ids), dim) relative style vectors of indexed items, rows in ``ids`` order."""
    plain = {n: vectors_for(store.vectors[n], ids) for n in [*weights, "content"]}
    return _relative_vectors(store, stacked_style(plain, weights), plain["content"], weights)


def search_relative(
    store: IndexStore, queries: dict[str, np.ndarray], k: int, weights: dict[str, float]
) -> list[list[Hit]]:
    """``--by style-relative``: cosines of relative style vectors (module docstring). Every
    candidate's relative vector is computed once, however many queries share it."""
    if "content" not in store.descriptors:
        raise StylesimError(
            f"{store.root}: --by {RELATIVE} needs the content descriptor, which this index lacks"
        )
    query_style = _relative_vectors(store, stacked_style(queries, weights), queries["content"], weights)
    per_query = fusion_candidates(store, queries, weights, k)
    every = np.unique(np.concatenate(per_query))
    plain = {n: vectors_for(store.vectors[n], every) for n in [*weights, "content"]}
    relative = _relative_vectors(store, stacked_style(plain, weights), plain["content"], weights)
    results = []
    for q, candidates in enumerate(per_query):
        rows = np.searchsorted(every, candidates)
        scores = relative[rows] @ query_style[q]
        order = np.argsort(-scores, kind="stable")[:k]
        results.append(
            [
                Hit(
                    int(candidates[j]),
                    float(scores[j]),
                    {n: float(plain[n][rows[j]] @ queries[n][q]) for n in weights},
                )
                for j in order
            ]
        )
    return results


@dataclass
class Group:
    key: str  # the item's path: the video's for frames, the image's otherwise
    score: float  # the best hit's score
    hits: list[Hit]  # the group's best hits, best first


def search_grouped(
    store: IndexStore,
    queries: dict[str, np.ndarray],
    by: str,
    k: int,
    per_group: int = 3,
    exclude: Sequence[Collection[int]] | None = None,
) -> list[list[Group]]:
    """Top ``k`` videos (or lone images) per query, ranked by their best frame, each with its
    ``per_group`` best frames (``exclude`` as in ``search_vectors``). Searches deeper until
    ``k`` groups are found or the whole collection has been ranked."""
    n_items = len(store)
    keys = store.items["path"]  # a frame's path is its video's
    depth = min(n_items, max(20 * k, 100))
    while True:
        per_query = search_vectors(store, queries, by, depth, exclude=exclude)
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
