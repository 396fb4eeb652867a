"""Merging segments, and re-fitting the collection standardisation.

Compaction (``stylesim compact``, or the automatic policy after a commit) writes the live items of
some segments into one new segment, streamed in chunks, and drops the old ones; deleted items
go away for good. The automatic policy merges when there are more than MAX_SEGMENTS segments
(every segment smaller than a quarter of the largest), merges the small segments searched
exactly once they hold EXACT_BELOW items together (the merged one gets approximate indexes),
and rewrites any segment whose deleted share reached HEAVY_DELETES, so adding items costs in
proportion to what is added.

Refit: the standardisation (``descriptors.standardise``) is re-fitted when the collection has
grown or shrunk REFIT_FACTOR times since the last fit, on up to FIT_SAMPLE raw vectors recovered
from the stored ones (x = mu + s v ||z||), and every segment is rewritten with it. Past REFIT_CAP
items at the last fit the statistics are stable and are no longer re-fitted, so a large index is
never rewritten whole because it grew.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from stylesim.descriptors.standardise import Standardiser
from stylesim.index.ann import EXACT_BELOW
from stylesim.index.frames import empty_frame, with_columns_of
from stylesim.index.policy import RELATIVE
from stylesim.index.relative import collection_z, commit_rows, sample_ids, version_threshold
from stylesim.index.segment import CHUNK, Segment, SegmentWriter
from stylesim.index.spaces import space_names, style_weights
from stylesim.index.writing import (
    FIT_SAMPLE,
    approximate_spaces,
    fault,
    neighbours_with,
    new_segment,
    vectors_reader,
)

if TYPE_CHECKING:
    from stylesim.index.store import IndexStore

log = logging.getLogger("stylesim.index")
REFIT_FACTOR = 1.5
REFIT_CAP = 200_000
MAX_SEGMENTS = 8
HEAVY_DELETES = 0.25
Refit = dict[str, tuple[Standardiser, Standardiser]]  # descriptor -> (old, new) statistics


def policy_sources(store: IndexStore) -> list[Segment]:
    """The segments the automatic policy merges (module docstring)."""
    heavy = [s for s in store.segments if len(s) and 1 - store.live(s).mean() >= HEAVY_DELETES]
    small: list[Segment] = []
    if len(store.segments) > MAX_SEGMENTS:
        largest = max(len(s) for s in store.segments)
        small = [s for s in store.segments if len(s) < largest / 4]
    exact = [s for s in store.segments if len(s) < EXACT_BELOW and not s.meta.get("spaces")]
    if sum(len(s) for s in exact) < EXACT_BELOW:
        exact = []  # searched exactly, together no slower than one segment of EXACT_BELOW items
    chosen = {s.name for s in heavy + small + exact}
    return [s for s in store.segments if s.name in chosen] if heavy or len(chosen) >= 2 else []


def compact(store: IndexStore, everything: bool = False) -> int:
    """Merge all segments, or what the policy chooses; returns how many were merged."""
    sources = list(store.segments) if everything else policy_sources(store)
    if not sources or (len(sources) == 1 and not (1 - store.live(sources[0])).any()):
        return 0
    rewrite(store, sources)
    return len(sources)


def explicit_relative(store: IndexStore, ids: np.ndarray, sources: list[Segment]) -> np.ndarray:
    """Ids whose relative vector a merged segment must hold: its items that have one anywhere,
    and older items whose relative vector one of the sources holds (all live)."""
    anywhere = (
        np.unique(np.concatenate([s.relative_ids for s in store.segments]))
        if store.segments
        else np.zeros(0, np.int64)
    )
    foreign = np.concatenate([s.relative_ids for s in sources]) if sources else np.zeros(0, np.int64)
    chosen = np.union1d(np.intersect1d(anywhere, ids), foreign)
    return np.setdiff1d(chosen, store.deleted)


def rewrite(store: IndexStore, sources: list[Segment], refit: Refit | None = None) -> None:
    """The live items of ``sources`` as one new segment, the newest (re-standardised with
    ``refit``); relative vectors carried over, or recomputed after a refit."""
    ids = np.sort(np.concatenate([s.ids[store.live(s)] for s in sources]))
    why = "re-standardising" if refit else "merging"
    log.info("%s %d segments (%d live items) into one", why, len(sources), len(ids))
    carried = explicit_relative(store, ids, sources)
    if not len(ids) and not len(carried):  # nothing live: the sources just go
        replace_sources(store, sources, None)
        return
    carried_vectors = store.relative_of(carried) if refit is None else None
    writer = new_segment(store, ids)
    frames = [copy_segment(store, s, writer, ids, refit) for s in sources]
    writer.items(with_columns_of(pd.concat(frames, ignore_index=True).sort_values("id"), store.item_dtypes()))
    spaces = space_names(store.descriptors, store.fusion)
    approximate_spaces(store, writer, [s for s in spaces if s != RELATIVE], reuse=refit is None)
    if carried_vectors is not None:
        writer.relative(carried, carried_vectors)
    else:
        recompute_relative(store, writer, ids, sources)
    approximate_spaces(store, writer, [RELATIVE] if RELATIVE in spaces else [], reuse=refit is None)
    fault("rewrite-sealing")
    replace_sources(store, sources, writer.seal())


def replace_sources(store: IndexStore, sources: list[Segment], merged: Segment | None) -> None:
    """The store's segments without ``sources``, ``merged`` the newest, for the next commit.
    The sources' deleted ids are forgotten unless a remaining segment still holds a relative
    vector for one of them (its deletion is what keeps that vector out of searches)."""
    gone = np.concatenate([s.ids for s in sources])
    store.segments = [s for s in store.segments if s not in sources] + ([merged] if merged else [])
    still_held = [s.relative_ids for s in store.segments]
    forgotten = np.setdiff1d(gone, np.concatenate(still_held)) if still_held else gone
    store.deleted = np.setdiff1d(store.deleted, forgotten)
    store.pending["deleted"] = True
    if merged is not None:
        store.pending["segments"].append(merged.name)
    store.__dict__.pop("items", None)


def copy_segment(
    store: IndexStore, source: Segment, writer: SegmentWriter, ids: np.ndarray, refit: Refit | None
) -> pd.DataFrame:
    """A source's live items into the writer, CHUNK rows at a time; returns their metadata."""
    live = np.flatnonzero(store.live(source))
    frames = []
    for start in range(0, len(live), CHUNK):
        rows = live[start : start + CHUNK]
        frame = source.rows(rows)
        vectors = {n: source.vectors(n, rows) for n in store.descriptors}
        for name, (old, new) in (refit or {}).items():
            raw = old.invert(vectors[name], frame[f"norm_{name}"].to_numpy(np.float32))
            vectors[name], norms = new.apply(raw)
            frame[f"norm_{name}"] = norms
        writer.put(np.searchsorted(ids, source.ids[rows]), vectors)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else empty_frame(store.item_dtypes())


def recompute_relative(
    store: IndexStore, writer: SegmentWriter, ids: np.ndarray, sources: list[Segment]
) -> None:
    """After a refit every style vector moved: every relative vector is computed again."""
    readable = writer.readable()
    others = [s for s in store.segments if s not in sources]
    saved, store.segments = store.segments, others
    try:
        relative_ids, relative = commit_rows(
            ids, np.zeros(0, np.int64), neighbours_with(store, readable), vectors_reader(store, readable),
            style_weights(store.descriptors, store.fusion), store.version_threshold(),
        )  # fmt: skip
    finally:
        store.segments = saved
    writer.relative(relative_ids, relative)


def refit_due(items: int, fitted_on: int) -> bool:
    """Whether statistics fitted on ``fitted_on`` items are due for a refit at ``items``."""
    moved = items >= REFIT_FACTOR * fitted_on or items * REFIT_FACTOR <= fitted_on
    return moved and fitted_on < REFIT_CAP


def refit_if_needed(store: IndexStore, force: bool = False) -> list[str]:
    """Re-fit and rewrite when the collection size moved REFIT_FACTOR times (module docstring);
    returns the descriptors re-fitted."""
    n = len(store)
    due = [name for name, stats in store.stats.items() if n and (force or refit_due(n, stats.count))]
    if not due:
        return []
    sample = np.sort(np.random.default_rng(0).choice(store.ids(), min(n, FIT_SAMPLE), replace=False))
    rows = store.rows(sample)
    refit: Refit = {}
    for name in due:
        old, d = store.stats[name], store.descriptors[name]
        raw = old.invert(store.vectors_of(name, sample), rows[f"norm_{name}"].to_numpy(np.float32))
        new = Standardiser.fit(raw, d.blocks(), d.collection_norm)
        new.count = n
        refit[name] = (old, new)
    if RELATIVE in space_names(
        store.descriptors, store.fusion
    ):  # the threshold follows the collection's size
        content = store.vectors_of("content", sample_ids(store.ids()))
        store.state["version_threshold"] = version_threshold(content, collection_z(n))
    rewrite(store, list(store.segments), refit)
    store.stats.update({name: new for name, (_, new) in refit.items()})
    store.pending["stats"] = store.pending["items"] = True
    return due
