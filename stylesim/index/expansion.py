"""Average query expansion of ``--by style`` (Chum et al. 2007, "Total Recall"): a look is better
described by the query and the few items most like it than by the query alone, so each
candidate's score is its score for the query plus a share of its scores for the query's best
neighbours,

    s'(q, x) = (s(q, x) + beta (1/k) sum_{j in N_k(q)} s(j, x)) / (1 + beta)

s the ``--by style`` score (fusion, content discount, near-duplicate rule) with j's stored
vectors as the query, N_k(q) the k candidates s ranks first for q, exact copies of q (content
cosine >= ``policy.EXACT_COPY_CONTENT``: the query itself when it is in the collection) left
out, so that a search from an indexed item and from its file give the same ranking. k and beta
are ``policy.STYLE_EXPANSION_NEIGHBOURS`` / ``STYLE_EXPANSION_WEIGHT``; the division keeps
s' on the scale of s. Exact copies of the query keep max(s, s') (the query's own look stays
first); the search then applies the near-duplicate rule once more, so that the query's other
copies keep at least their coarse cosine.

The search re-ranks a query's best max(10 k, 256) candidates by s (k the results asked for) and
takes its results from them; the evaluation does the same for k = 10.

Pure functions over score arrays: the search applies them to each query's candidates
(``index.search``), the evaluation to its square score matrices.
"""

from __future__ import annotations

import numpy as np


def expansion_neighbours(scores: np.ndarray, copies: np.ndarray, k: int) -> np.ndarray:
    """Positions of the (at most) k highest ``scores`` of one query, best first, leaving out the
    positions where ``copies`` is true."""
    order: np.ndarray = np.argsort(-np.asarray(scores), kind="stable")
    kept: np.ndarray = order[~np.asarray(copies)[order]][:k]
    return kept


def expanded(
    scores: np.ndarray, neighbour_scores: np.ndarray, beta: float, copies: np.ndarray | None = None
) -> np.ndarray:
    """s' of one query's candidates: ``scores`` (m,) its own, ``neighbour_scores`` (k, m) each
    neighbour's for the same candidates; the query's exact ``copies`` keep their own score where
    it is higher (the query's own look stays first); ``scores`` unchanged without neighbours."""
    if len(neighbour_scores) == 0:
        return scores
    result: np.ndarray = (scores + beta * np.mean(neighbour_scores, axis=0)) / (1 + beta)
    if copies is not None:
        result = np.where(copies, np.maximum(scores, result), result)
    return result.astype(scores.dtype, copy=False)


def expanded_matrix(
    scores: np.ndarray, copies: np.ndarray, k: int, beta: float, depth: int | None = None
) -> np.ndarray:
    """s' of a square score matrix (row q: query q's scores for the same items, as the evaluation
    computes them); ``copies`` (n, n) marks each row's exact copies of its query. With ``depth``,
    as the search re-ranks only a query's best ``depth`` items by s: the others -inf."""
    out = np.stack(
        [
            expanded(row, scores[expansion_neighbours(row, copy, k)], beta, copy)
            for row, copy in zip(scores, copies, strict=True)
        ]
    )
    if depth is not None and depth < scores.shape[1]:
        below = np.argsort(-scores, axis=1, kind="stable")[:, depth:]
        np.put_along_axis(out, below, -np.inf, axis=1)
    return out
