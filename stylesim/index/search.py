"""Nearest neighbours in one descriptor's index, or a weighted fusion of several.

Fused score (``--by style``):  s(q, x) = sum_i w_i cos_i(q, x),  sum_i w_i = 1, plus the palette
match where the colour cosine is near 1 (``index.palette``), then the content discount
s - lambda c'(q, x) (1 - s)  (``content_discounted``), c' the content cosine's share above what
the query typically shares with the collection (``content_beyond_typical``,
``query_typical_content``; ``index.policy``), the query's near-duplicates first
(``near_duplicates_first``), then the average query expansion
s'(q, x) = (s(q, x) + beta mean_j s(j, x)) / (1 + beta) over the query's best neighbours j
among the candidates (``index.expansion``) of the query's best max(10 k, 256) candidates by s,
from which the results come, after which the query's near-duplicates keep at least their coarse
cosine again.
Candidates are the top k' (k' = max(10 k, 256), DISCOUNT_DEPTH times that with the content
discount, capped by the collection size) in the stacked style space (``index.spaces``), whose
inner product is the weighted sum itself, and for other weights the union of each weighted
component's top k'; with them, the top max(10 k, 256) of the coarse space (the query's small
copies) and of the colour space (the palette match can lift an item the weighted sum ranks far
down); every candidate is then scored exactly on every component, so an item that is
second-best on all components is not lost.

Relative score (``--by style-relative``), for collections that hold several versions of the
same pictures (restyled variants, filter sets): each item's fused style vector
s = [sqrt(w_i) v_i] minus the mean of its *versions* -- items that show the same picture
(content cosine above the collection's mean + RELATIVE_Z standard deviations, at most
RELATIVE_NEIGHBOURS of them) in another look (fused style cosine below RELATIVE_MAX_STYLE) --
then cosines of those residuals. What remains is how an item differs from the other versions
of its picture, i.e. its look; an item without versions keeps its own vector. The items'
relative vectors are computed when they are committed (``index.relative``), the query's here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np

from stylesim.errors import StylesimError
from stylesim.index.agreement import colour_weighted
from stylesim.index.ann import candidates_for, search_threads
from stylesim.index.backend import SearchBackend
from stylesim.index.expansion import expanded, expansion_neighbours
from stylesim.index.palette import with_palette_match
from stylesim.index.policy import (
    EXACT_COPY_CONTENT,
    NEAR_DUPLICATE_COARSE,
    NEAR_DUPLICATE_COLOUR,
    NEAR_DUPLICATE_CONTENT,
    RELATIVE,
    STYLE_CONTENT_DISCOUNT,
    STYLE_EXPANSION_NEIGHBOURS,
    STYLE_EXPANSION_WEIGHT,
    STYLE_FUSION,
    STYLE_TYPICAL_CONTENT_Z,
)
from stylesim.index.spaces import STYLE, stacked, style_weights

FUSED = {"style": STYLE_FUSION, RELATIVE: STYLE_FUSION}
# The content discount can lift an item from far down the undiscounted ranking (its own picture's
# other versions are pushed out): its candidates go this many times deeper (docs/scale.md).
DISCOUNT_DEPTH = 4
CONTENT_DISCOUNTS = {"style": STYLE_CONTENT_DISCOUNT}
DUPLICATE_EVIDENCE = ("content", "colour", "coarse")  # what ``near_duplicates_first`` compares


@dataclass
class Hit:
    id: int
    score: float
    scores: dict[str, float] = field(default_factory=dict)  # per component, for fused searches


def search_modes(store: SearchBackend) -> list[str]:
    """What ``--by`` accepts for this index."""
    return [*FUSED, *store.descriptors]


def fusion_weights(by: str, store: SearchBackend) -> dict[str, float]:
    if by in store.descriptors:
        return {by: 1.0}
    if by == "style":  # the colour weight follows the collection (``index.agreement``)
        return colour_weighted(style_weights(store.descriptors, store.fusion), store.style_agreement())
    if by in FUSED:
        return style_weights(store.descriptors, store.fusion)
    raise StylesimError(f"unknown --by {by!r}; this index offers: {', '.join(search_modes(store))}")


def content_discount(by: str, store: SearchBackend) -> float:
    """The content discount lambda of ``--by`` (0 for single descriptors, or without a content index)."""
    return CONTENT_DISCOUNTS.get(by, 0.0) if "content" in store.descriptors else 0.0


def query_descriptors(by: str, store: SearchBackend) -> list[str]:
    """The descriptors a query needs for ``--by``: the fused ones, and content for the discount
    or the versions."""
    names = list(fusion_weights(by, store))
    wants_content = content_discount(by, store) or by == RELATIVE
    names += ["content"] if wants_content else []
    names += list(DUPLICATE_EVIDENCE) if finds_duplicates(content_discount(by, store), store) else []
    return list(dict.fromkeys(names))


def finds_duplicates(discount: float, store: SearchBackend) -> bool:
    """Whether a search with this content discount puts near-duplicates first: a discounted search
    of an index that has every descriptor ``near_duplicates_first`` reads."""
    return bool(discount) and set(DUPLICATE_EVIDENCE) <= set(store.descriptors)


def content_discounted(style: np.ndarray, content: np.ndarray, discount: float) -> np.ndarray:
    """s - lambda c (1 - s): a candidate that shows the query's content (c: its content cosine,
    or the share of it above the typical, ``content_beyond_typical``) in another look (style
    score s below 1) is pushed down in proportion to both; one with the query's look (s = 1)
    keeps its score, whatever it shows."""
    return style - discount * content * (1.0 - style)


def typical_content(cosines: np.ndarray, z: float = STYLE_TYPICAL_CONTENT_Z) -> np.ndarray:
    """t_q = median + z 1.4826 MAD of each row of content cosines (a query's, to a sample of the
    collection), leaving out exact copies (cosine >= EXACT_COPY_CONTENT: the query itself): how
    alike the query's content is to items it has nothing in common with. The median and the
    median absolute deviation (scaled to a normal sd) ignore the query's own versions, however
    many of a small collection they are. 1 for a row of copies."""
    cosines = np.asarray(cosines, np.float64)
    copies = cosines >= EXACT_COPY_CONTENT
    only_copies = np.asarray(copies.all(axis=-1))
    kept = np.where(copies & ~np.expand_dims(only_copies, -1), np.nan, cosines)
    median = np.nanmedian(kept, axis=-1)
    spread = 1.4826 * np.nanmedian(np.abs(kept - median[..., None]), axis=-1)
    return np.asarray(np.where(only_copies, 1.0, median + z * spread), np.float32)


def query_typical_content(store: SearchBackend, content: np.ndarray) -> np.ndarray:
    """``typical_content`` of each query row's content cosines to a fixed random sample of the
    collection (``SearchBackend.content_sample``)."""
    sample = store.content_sample()
    rows = np.asarray(content, sample.dtype).reshape(-1, sample.shape[1])
    # one product per query (in the stored float32, no copy of the sample per search): its scores
    # do not depend on which queries it is searched with
    return typical_content(np.stack([sample @ row for row in rows]))


def content_beyond_typical(content: np.ndarray, typical: np.ndarray | float) -> np.ndarray:
    """c' = clip((c - t_q) / (1 - t_q), 0, 1): the share of a candidate's content cosine c above
    what is typical for the query, the cosine that ``content_discounted`` discounts by (a
    collection whose items all look alike in content, icons on one canvas, type, does not have
    every candidate discounted)."""
    t = np.minimum(np.asarray(typical, np.float32), np.float32(0.999))
    return np.asarray(np.clip((np.asarray(content, np.float32) - t) / (1 - t), 0, 1), np.float32)


def search_vectors(
    store: SearchBackend,
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
    store: SearchBackend,
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
    n_queries = len(next(iter(queries.values())))
    if len(store) == 0:
        return [[] for _ in range(n_queries)]
    with search_threads(n_queries):
        return searched(store, queries, by, min(k, len(store)), weights, discount)


def searched(
    store: SearchBackend,
    queries: dict[str, np.ndarray],
    by: str,
    k: int,
    weights: dict[str, float],
    discount: float,
) -> list[list[Hit]]:
    """``ranked`` of a non-empty collection, its weights and discount decided."""
    if by == RELATIVE:
        return search_relative(store, queries, k, weights)
    if len(weights) == 1 and not discount:
        (name,) = weights
        scores, ids = store.nearest(name, queries[name], k)
        return [
            [Hit(int(i), float(s)) for s, i in zip(srow, irow, strict=True) if i >= 0]
            for srow, irow in zip(scores, ids, strict=True)
        ]
    return fused_hits(store, queries, weights, discount, k, palette=by == "style")


@dataclass(frozen=True)
class Scoring:
    """How a fused search scores its candidates: the weights, the content discount, whether
    near-duplicates come first (``finds_duplicates``) and whether the palette match is added
    (``index.palette``: ``--by style`` with colour among the weights)."""

    weights: dict[str, float]
    discount: float
    duplicates: bool
    palette: bool = False

    @property
    def components(self) -> list[str]:
        """The descriptors each candidate is scored on: the weighted ones, content for the
        discount, content and colour for the near-duplicate rule's gates (``coarse_scores``)."""
        gates = ["content", "colour"] if self.duplicates else []
        return list(dict.fromkeys([*self.weights, *(["content"] if self.discount else []), *gates]))


def fused_hits(
    store: SearchBackend,
    queries: dict[str, np.ndarray],
    weights: dict[str, float],
    discount: float,
    k: int,
    palette: bool = False,
) -> list[list[Hit]]:
    """Weighted cosines of every candidate (``fusion_candidates``), with the palette match when
    ``palette``, content-discounted above the query's typical content cosine, with the query's
    near-duplicates first (``near_duplicates_first``) and, when discounted (``--by style``),
    expanded by the query's best neighbours (``index.expansion``), the near-duplicates first
    again; top ``k``."""
    scoring = Scoring(weights, discount, finds_duplicates(discount, store), palette and "colour" in weights)
    results = []
    shallow = candidates_for(k)  # the coarse and colour spaces' depth; the items the expansion re-ranks
    depth = shallow * (DISCOUNT_DEPTH if discount else 1)
    extra_depths = {
        "coarse": shallow if scoring.duplicates else 0,
        "colour": shallow if scoring.palette else 0,
    }
    typical = query_typical_content(store, queries["content"]) if discount else None
    found = fusion_candidates(store, queries, weights, depth, extra_depths)
    with search_threads(1):  # one query's re-scoring is too small to share between threads
        for q, candidates in enumerate(found):
            query = {n: v[q] for n, v in queries.items()}
            component_scores = {n: store.scores_of(n, candidates, query[n]) for n in scoring.components}
            fused = candidate_scores(
                store, query, candidates, component_scores, scoring, None if typical is None else typical[q]
            )
            if discount:  # the best ``shallow`` are re-ranked: the top k come from them
                fused = with_expansion(store, fused, candidates, component_scores, scoring, shallow)
            if scoring.duplicates:  # the query's near-duplicates keep at least their coarse cosine
                fused = near_duplicates_first(fused, component_scores)
            order = np.argsort(-fused, kind="stable")[:k]
            results.append([hit(candidates[j], fused[j], component_scores, j) for j in order])
    return results


def candidate_scores(
    store: SearchBackend,
    query: dict[str, np.ndarray],
    candidates: np.ndarray,
    component_scores: dict[str, np.ndarray],
    scoring: Scoring,
    typical: float | None,
) -> np.ndarray:
    """One query's fused score of each candidate from its component cosines: weighted, with the
    palette match (``scoring.palette``), discounted by the content beyond the query's ``typical``
    (when given), near-duplicates first (their coarse cosines are added to ``component_scores``)."""
    fused = sum(
        (w * component_scores[n] for n, w in scoring.weights.items()), np.zeros(len(candidates), np.float32)
    )
    if scoring.palette:
        fused = with_palette_match(fused, component_scores, scoring.weights)
    if typical is not None:
        beyond = content_beyond_typical(component_scores["content"], typical)
        fused = content_discounted(fused, beyond, scoring.discount)
    if scoring.duplicates:
        component_scores["coarse"] = coarse_scores(store, query["coarse"], candidates, component_scores)
        fused = near_duplicates_first(fused, component_scores)
    return fused


def with_expansion(
    store: SearchBackend,
    fused: np.ndarray,
    candidates: np.ndarray,
    component_scores: dict[str, np.ndarray],
    scoring: Scoring,
    depth: int,
) -> np.ndarray:
    """``fused`` of the query's best ``depth`` candidates expanded by its STYLE_EXPANSION_NEIGHBOURS
    best, exact copies of it left out, each scored as a query with its stored vectors
    (``index.expansion``); the candidates below those -inf: they are not results."""
    copies = component_scores["content"] >= EXACT_COPY_CONTENT
    near = candidates[expansion_neighbours(fused, copies, STYLE_EXPANSION_NEIGHBOURS)]
    if not len(near):
        return fused
    top = np.argsort(-fused, kind="stable")[:depth]
    evidence = [*scoring.components, *(["coarse"] if scoring.duplicates else [])]
    vectors = {n: store.vectors_of(n, near) for n in dict.fromkeys(evidence)}
    theirs = {n: store.scores_of(n, candidates[top], vectors[n]) for n in scoring.components}
    typical = query_typical_content(store, vectors["content"])
    rows = [
        candidate_scores(
            store,
            {n: v[i] for n, v in vectors.items()},
            candidates[top],
            {n: s[i] for n, s in theirs.items()},
            scoring,
            float(typical[i]),
        )
        for i in range(len(near))
    ]
    out = np.full_like(fused, -np.inf)
    out[top] = expanded(fused[top], np.stack(rows), STYLE_EXPANSION_WEIGHT, copies[top])
    return out


def coarse_scores(
    store: SearchBackend, query: np.ndarray, candidates: np.ndarray, scores: dict[str, np.ndarray]
) -> np.ndarray:
    """Coarse cosines of the candidates that pass the near-duplicate rule's content and colour
    gates (the only ones whose coarse cosine can matter); NaN for the others."""
    maybe = (scores["content"] >= NEAR_DUPLICATE_CONTENT) & (scores["colour"] >= NEAR_DUPLICATE_COLOUR)
    out = np.full(len(candidates), np.nan, np.float32)
    out[maybe] = store.scores_of("coarse", candidates[maybe], query) if maybe.any() else 0.0
    return out


def hit(item: np.int64, score: float, scores: dict[str, np.ndarray], j: int) -> Hit:
    """A candidate's hit with its component scores (those that were computed for it)."""
    components = {n: float(v[j]) for n, v in scores.items() if not np.isnan(v[j])}
    return Hit(int(item), float(score), components)


def near_duplicates_first(fused: np.ndarray, scores: dict[str, np.ndarray]) -> np.ndarray:
    """``fused`` with the query's near-duplicates scored by their coarse cosine, undiscounted:
    items that show its picture, in its palette and in its look at 96² (``policy.NEAR_DUPLICATE_*``)."""
    near = (
        (scores["content"] >= NEAR_DUPLICATE_CONTENT)
        & (scores["colour"] >= NEAR_DUPLICATE_COLOUR)
        & (scores["coarse"] >= NEAR_DUPLICATE_COARSE)
    )
    return np.where(near, np.maximum(fused, scores["coarse"]), fused)


def fusion_candidates(
    store: SearchBackend,
    queries: dict[str, np.ndarray],
    weights: dict[str, float],
    depth: int,
    extra_depths: dict[str, int] | None = None,
) -> list[np.ndarray]:
    """Per query, the top ``depth`` ids of the stacked style space when ``weights`` are its
    own, else the union of each weighted component's; and the top ``extra_depths[name]`` of
    further spaces not searched already: coarse, where a small copy of the query is found that
    the style space ranks far down; colour, where an item whose palette matches the query's (the
    palette match can lift it) is found that the stacked space ranks far down."""
    depth = min(len(store), depth)
    if weights == style_weights(store.descriptors, store.fusion):
        found, searched = [store.candidates(STYLE, stacked(queries, weights), depth)], set()
    else:
        found, searched = [store.candidates(n, queries[n], depth) for n in weights], set(weights)
    for name, extra in (extra_depths or {}).items():
        if extra and name not in searched:
            found.append(store.candidates(name, queries[name], min(len(store), extra)))
    return [np.unique(np.concatenate(per_query)) for per_query in zip(*found, strict=True)]


def search_relative(
    store: SearchBackend, queries: dict[str, np.ndarray], k: int, weights: dict[str, float]
) -> list[list[Hit]]:
    """``--by style-relative``: nearest relative style vectors (module docstring)."""
    if "content" not in store.descriptors:
        raise StylesimError(
            f"{store.root}: --by {RELATIVE} needs the content descriptor, which this index lacks"
        )
    query_relative = store.relative_query(
        stacked(queries, style_weights(store.descriptors, store.fusion)),
        queries["content"],
        store.version_threshold(),
    )
    scores, ids = store.nearest(RELATIVE, query_relative, k)
    results = []
    for q in range(len(ids)):
        valid = ids[q] >= 0
        found = ids[q][valid]
        components = {n: store.scores_of(n, found, queries[n][q]) for n in weights}
        results.append(
            [
                Hit(int(i), float(s), {n: float(components[n][j]) for n in weights})
                for j, (s, i) in enumerate(zip(scores[q][valid], found, strict=True))
            ]
        )
    return results


@dataclass
class Group:
    key: str  # the item's path: the video's for frames, the image's otherwise
    score: float  # the best hit's score
    hits: list[Hit]  # the group's best hits, best first


def search_grouped(
    store: SearchBackend,
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
    depth = min(n_items, max(20 * k, 100))
    while True:
        per_query = search_vectors(store, queries, by, depth, exclude=exclude)
        grouped = []
        for hits in per_query:
            groups: dict[str, Group] = {}
            keys = store.rows(np.array([h.id for h in hits], np.int64))["path"]  # a frame's is its video's
            for hit, key in zip(hits, keys, strict=True):
                group = groups.get(key)
                if group is None:
                    groups[key] = Group(key, hit.score, [hit])
                elif len(group.hits) < per_group:
                    group.hits.append(hit)
            grouped.append(list(groups.values()))  # insertion order = best hit first
        if depth >= n_items or all(len(g) >= k for g in grouped):
            return [g[:k] for g in grouped]
        depth = min(n_items, depth * 4)
