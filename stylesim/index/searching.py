"""Candidates across segments: each segment answers a space search (exactly, or from its
approximate index with the candidates re-scored exactly from the float16 vectors), deleted
items and relative vectors superseded by a newer segment are dropped, and the lists are merged.
The scores returned are exact inner products in the space."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from stylesim.index import ann
from stylesim.index.policy import RELATIVE
from stylesim.index.segment import Segment
from stylesim.index.spaces import style_weights

if TYPE_CHECKING:
    from stylesim.index.store import IndexStore


def nearest(store: IndexStore, space: str, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` (scores, ids) per query row over the store's live items (ids -1 past the end)."""
    q = np.ascontiguousarray(queries, np.float32)
    weights = style_weights(store.descriptors)
    scores = [np.zeros((len(q), 0), np.float32)]
    ids = [np.zeros((len(q), 0), np.int64)]
    for number, segment in enumerate(store.segments):
        seg_scores, seg_ids = segment_candidates(segment, space, q, k + deleted_in(store, segment), weights)
        valid = (seg_ids >= 0) & ~np.isin(seg_ids, store.deleted)
        if space == RELATIVE:
            valid &= ~superseded(store, number, seg_ids)
        scores.append(np.where(valid, seg_scores, -np.inf))
        ids.append(np.where(valid, seg_ids, -1))
    return top(np.concatenate(scores, axis=1), np.concatenate(ids, axis=1), k)


def deleted_in(store: IndexStore, segment: Segment) -> int:
    return int(np.isin(store.deleted, segment.ids).sum()) if len(store.deleted) else 0


def segment_candidates(
    segment: Segment, space: str, q: np.ndarray, k: int, weights: dict[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """A segment's top ``k`` with exact scores (approximate candidates re-scored)."""
    if segment.ann(space) is None:
        return segment.search(space, q, k, weights)
    _, found = segment.search(space, q, max(k, ann.candidates_for(k)), weights)
    exact = rescore(segment, space, q, found, weights)
    return top(exact, found, k)


def rescore(
    segment: Segment, space: str, q: np.ndarray, found: np.ndarray, weights: dict[str, float]
) -> np.ndarray:
    """Exact inner products of each query with its candidate ids (-inf for -1)."""
    flat = found.ravel()
    valid = flat >= 0
    unique = np.unique(flat[valid])
    vectors = (
        segment.space_vectors(space, unique, weights)
        if len(unique)
        else np.zeros((0, q.shape[1]), np.float32)
    )
    out = np.full(found.shape, -np.inf, np.float32)
    for i in range(len(q)):
        row_valid = found[i] >= 0
        rows = np.searchsorted(unique, found[i][row_valid])
        out[i, row_valid] = vectors[rows] @ q[i]
    return out


def superseded(store: IndexStore, number: int, ids: np.ndarray) -> np.ndarray:
    """Which ids have a relative vector in a segment newer than segment ``number``."""
    out = np.zeros(ids.shape, bool)
    for newer in store.segments[number + 1 :]:
        if len(newer.relative_ids):
            out |= np.isin(ids, newer.relative_ids)
    return out


def top(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best columns of each row (padded with -inf / -1)."""
    if scores.shape[1] < k:
        pad = k - scores.shape[1]
        scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
    keep = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, keep, axis=1), np.take_along_axis(ids, keep, axis=1)
