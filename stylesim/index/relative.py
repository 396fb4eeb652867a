"""Relative style vectors, computed when items are committed so that ``--by style-relative``
searches them like any other vector (the rule is ``index.search``'s):

    r(x) = unit(s(x) - mean{ s(v) : v in versions(x) }),   r(x) = s(x) when x has none

where s is the stacked style vector (``index.spaces``) and versions(x) are the items among x's
RELATIVE_NEIGHBOURS + 1 nearest by content (x itself excluded) whose content cosine is above the
collection's version threshold (mean + z std of the content cosines of a sample of pairs, z
growing with the collection: ``collection_z``) and whose style cosine with x is below
RELATIVE_MAX_STYLE. The threshold is set at the first commit and again when the collection
statistics are re-fitted (``index.compaction``), which recomputes every relative vector.

A commit computes r for its new items, and again for the older items that are versions of a new
one (their version sets changed); the new segment holds both (``index.segment``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np

from stylesim.index.policy import RELATIVE_MAX_STYLE, RELATIVE_NEIGHBOURS, RELATIVE_SAMPLE, RELATIVE_Z
from stylesim.index.spaces import stacked, style_weights

if TYPE_CHECKING:
    from stylesim.index.backend import SearchBackend

Neighbours = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]  # content rows, k -> (scores, ids)
Vectors = Callable[[str, np.ndarray], np.ndarray]  # descriptor, ids -> float32 unit vectors
BATCH = 1024  # items whose versions are looked up together (their versions' style vectors in memory)


def collection_z(items: int) -> float:
    """z of the version threshold for a collection of ``items``: RELATIVE_Z, or the normal
    quantile 1 - 1/items when larger, so that an item expects about one other above the
    threshold by chance however large the collection (RELATIVE_Z = 2.5 is that quantile at the
    ~170 items it was tuned on; 4.4 at 100 000 items, 4.75 at a million)."""
    return max(RELATIVE_Z, NormalDist().inv_cdf(1.0 - 1.0 / max(items, 2)))


def version_threshold(content: np.ndarray, z: float = RELATIVE_Z) -> float:
    """Mean + z standard deviations of the content cosines between distinct items of a sample
    (n, dim) of unit vectors: above it, two items show the same picture (``collection_z``)."""
    sims = np.asarray(content, np.float64) @ np.asarray(content, np.float64).T
    off = sims[~np.eye(len(sims), dtype=bool)]
    return float(off.mean() + z * off.std()) if len(off) else float("inf")


def sample_ids(ids: np.ndarray, size: int = RELATIVE_SAMPLE) -> np.ndarray:
    """A fixed random sample of ``ids`` (the collection statistics of the versions rule)."""
    if len(ids) <= size:
        return np.asarray(ids)
    return np.sort(np.random.default_rng(0).choice(np.asarray(ids), size, replace=False))


def relative_style(
    style: np.ndarray, versions: np.ndarray, max_style: float = RELATIVE_MAX_STYLE
) -> np.ndarray:
    """s - mean(versions v with <s, v> < max_style), unit length; s itself without any."""
    versions = versions[versions @ style < max_style] if len(versions) else versions
    residual = style - versions.mean(axis=0) if len(versions) else style
    return residual / max(float(np.linalg.norm(residual)), 1e-12)


def query_relative(
    backend: SearchBackend, style: np.ndarray, content: np.ndarray, threshold: float
) -> np.ndarray:
    """Relative style vectors of query rows (stacked style and content rows given): their versions
    are the collection's items among the RELATIVE_NEIGHBOURS + 1 nearest by content whose content
    cosine is above ``threshold`` (the query is not an item, so none is left out)."""
    weights = style_weights(backend.descriptors, backend.fusion)
    sims, near = backend.nearest("content", content, min(len(backend), RELATIVE_NEIGHBOURS + 1))
    found = [row[(row >= 0) & (s > threshold)] for row, s in zip(near, sims, strict=True)]
    return np.stack(
        [
            relative_style(s, stacked({n: backend.vectors_of(n, v) for n in weights}, weights))
            for s, v in zip(style, found, strict=True)
        ]
    )


def relative_vectors(
    ids: np.ndarray, content: np.ndarray, style: np.ndarray, neighbours: Neighbours, vectors: Vectors,
    weights: Mapping[str, float], threshold: float,
) -> tuple[np.ndarray, list[np.ndarray]]:  # fmt: skip
    """(relative vectors, versions of each) of the items ``ids`` (content and stacked style rows
    given); ``neighbours`` searches the collection by content and gives exact cosines."""
    sims, near = neighbours(content, RELATIVE_NEIGHBOURS + 1)
    found = [
        row[(row >= 0) & (row != item) & (s > threshold)]
        for item, row, s in zip(ids, near, sims, strict=True)
    ]
    pool = np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)
    parts = [vectors(n, pool) for n in weights]  # the versions' style, one descriptor at a time
    for number, w in enumerate(weights.values()):
        parts[number] *= np.float32(np.sqrt(w))  # stacked in place, concatenated per item below
    out = np.empty(style.shape, np.float32)
    for row, (s, v) in enumerate(zip(style, found, strict=True)):
        rows = np.searchsorted(pool, v)
        out[row] = relative_style(s, np.concatenate([part[rows] for part in parts], axis=1))
    return out, found


def commit_rows(
    new_ids: np.ndarray,
    old_ids: np.ndarray,
    neighbours: Neighbours,
    vectors: Vectors,
    weights: Mapping[str, float],
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, relative vectors) to store with a commit: the new items that have versions, and the
    older items among their versions, recomputed (module docstring)."""
    keep_ids, keep_vectors, affected = [], [], []
    for start in range(0, len(new_ids), BATCH):
        ids, relative, found = _batch(new_ids[start : start + BATCH], neighbours, vectors, weights, threshold)
        has = np.array([len(v) > 0 for v in found], bool)
        keep_ids.append(ids[has])
        keep_vectors.append(relative[has])
        versions = np.concatenate(found) if found else np.zeros(0, np.int64)
        affected.append(versions[np.isin(versions, old_ids)])  # one lookup per batch, not per item
    older = np.unique(np.concatenate(affected)) if affected else np.zeros(0, np.int64)
    for start in range(0, len(older), BATCH):
        ids, relative, _ = _batch(older[start : start + BATCH], neighbours, vectors, weights, threshold)
        keep_ids.append(ids)
        keep_vectors.append(relative)
    if not keep_ids:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    return np.concatenate(keep_ids), np.concatenate(keep_vectors)


def _batch(
    ids: np.ndarray, neighbours: Neighbours, vectors: Vectors, weights: Mapping[str, float], threshold: float
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    content = vectors("content", ids)
    style = stacked({n: vectors(n, ids) for n in weights}, weights)
    relative, found = relative_vectors(ids, content, style, neighbours, vectors, weights, threshold)
    return ids, relative, found
