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


def nearest(
    store: IndexStore, space: str, queries: np.ndarray, k: int, depth: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` (exact scores, ids) per query row over the store's live items (ids -1 past the
    end); approximate indexes give ``depth`` candidates (default ``ann.candidates_for(k)``)."""
    q = np.ascontiguousarray(queries, np.float32)
    weights = style_weights(store.descriptors, store.fusion)
    scores = [np.zeros((len(q), 0), np.float32)]
    ids = [np.zeros((len(q), 0), np.int64)]
    for number, segment in enumerate(store.segments):
        skip = stale_ids(store, number, space)
        seg_scores, seg_ids = segment_candidates(segment, space, q, k, weights, depth, skip)
        valid = live_candidates(store, number, space, seg_ids)
        scores.append(np.where(valid, seg_scores, -np.inf))
        ids.append(np.where(valid, seg_ids, -1))
    return top(np.concatenate(scores, axis=1), np.concatenate(ids, axis=1), k)


def candidates(store: IndexStore, space: str, queries: np.ndarray, depth: int) -> list[np.ndarray]:
    """Per query row, the ids (ascending) of each segment's ``depth`` best live items in a space
    as its index ranks them (approximately for large segments; not re-scored: the caller scores
    them exactly)."""
    q = np.ascontiguousarray(queries, np.float32)
    weights = style_weights(store.descriptors, store.fusion)
    found = [np.zeros((len(q), 0), np.int64)]
    for number, segment in enumerate(store.segments):
        _, seg_ids = segment.search(space, q, depth, weights, stale_ids(store, number, space))
        found.append(np.where(live_candidates(store, number, space, seg_ids), seg_ids, -1))
    every = np.concatenate(found, axis=1)
    return [np.unique(row[row >= 0]) for row in every]


def live_candidates(store: IndexStore, number: int, space: str, ids: np.ndarray) -> np.ndarray:
    """Which ids found in segment ``number`` count: not -1, not deleted, and for the relative
    space not superseded by a newer segment's relative vector."""
    valid = (ids >= 0) & ~np.isin(ids, store.deleted)
    if space == RELATIVE:
        valid &= ~superseded(store, number, ids)
    return valid


def stale_ids(store: IndexStore, number: int, space: str) -> np.ndarray:
    """Ids segment ``number`` holds that a search must skip: deleted items, and in the relative
    space the vectors a newer segment supersedes (cached per state of the store)."""
    segment = store.segments[number]
    key = (segment.name, space, len(store.deleted), len(store.segments))
    cache: dict[tuple[str, str, int, int], np.ndarray] = store.__dict__.setdefault("_stale", {})
    if key not in cache:
        own = np.union1d(segment.ids, segment.relative_ids) if space == RELATIVE else segment.ids
        stale = (  # both sorted and unique: no sort of the segment's ids needed
            np.intersect1d(own, store.deleted, assume_unique=True) if len(store.deleted) else own[:0]
        )
        if space == RELATIVE:
            newer = [s.relative_ids for s in store.segments[number + 1 :] if len(s.relative_ids)]
            if newer:
                stale = np.union1d(stale, np.intersect1d(own, np.concatenate(newer)))
        cache[key] = stale
    return cache[key]


def segment_candidates(
    segment: Segment,
    space: str,
    q: np.ndarray,
    k: int,
    weights: dict[str, float],
    depth: int | None = None,
    skip: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A segment's top ``k`` with exact scores (``depth`` approximate candidates re-scored),
    the ids in ``skip`` left out."""
    if segment.ann(space) is None:
        return segment.search(space, q, k, weights, skip)
    _, found = segment.search(space, q, max(k, depth or ann.candidates_for(k)), weights, skip)
    exact = rescore(segment, space, q, found, weights)
    return top(exact, found, k)


def rescore(
    segment: Segment, space: str, q: np.ndarray, found: np.ndarray, weights: dict[str, float]
) -> np.ndarray:
    """Exact inner products of each query with its candidate ids (-inf for -1), scored from
    the stored float16 rows (``Segment.space_scores``)."""
    out = np.full(found.shape, -np.inf, np.float32)
    for i, row in enumerate(found):
        valid = row >= 0
        out[i, valid] = segment.space_scores(space, row[valid], q[i], weights)
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
