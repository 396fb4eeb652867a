"""What an indexing run has to do: compare the walked files with the index.

Incremental rules (per file path, under the folders and files given in this run):
  same size and mtime as indexed   -> unchanged, not read (videos: also the same sampling)
  new, or size/mtime changed       -> (re-)encoded; the new entries replace the old ones
  indexed but gone from disk        -> removed
  cannot be decoded                 -> skipped with the reason (and older entries removed)
  video partly decodable            -> its good frames are kept; reported as damaged
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from stylesim.collection.video import Sampling
from stylesim.collection.walk import FileEntry, Skip, WalkResult, is_under
from stylesim.index.store import IndexStore


@dataclass
class IndexReport:
    added: int = 0  # items: images and video frames
    videos: int = 0  # videos sampled in this run
    frames: int = 0  # frames they gave
    unchanged: int = 0
    removed: int = 0
    resumed: int = 0  # items recovered from an interrupted run's journal
    ignored: int = 0
    skipped: list[Skip] = field(default_factory=list)  # every file under the inputs that is not indexed
    new_skips: int = 0  # of those, the ones not already recorded as skipped (same size and mtime)
    damaged: list[Skip] = field(default_factory=list)  # videos only partly decodable (frames kept)
    refitted: list[str] = field(default_factory=list)
    compacted: int = 0  # segments the automatic policy merged
    seconds: float = 0.0
    interrupted: bool = False
    total: int = 0  # items in the index afterwards


@dataclass
class Plan:
    todo: list[FileEntry]
    unchanged: int
    stale_ids: np.ndarray  # entries to remove: deleted, or now unreadable
    still_skipped: list[Skip] = field(default_factory=list)  # recorded as skipped, unchanged: not read again


SkipKey = tuple[str, int | None, int | None]


def recorded_skips(store: IndexStore) -> dict[SkipKey, str]:
    """(path, size, mtime_ns) -> reason of every file the index records as skipped."""
    frame = store.skipped
    sizes = [None if pd.isna(s) else int(s) for s in frame["size"]]
    mtimes = [None if pd.isna(m) else int(m) for m in frame["mtime_ns"]]
    return {
        (str(p), s, m): str(r)
        for p, s, m, r in zip(frame["path"], sizes, mtimes, frame["reason"], strict=True)
    }


def count_new_skips(skips: list[Skip], recorded: dict[SkipKey, str]) -> int:
    """Skips that the index did not already record for the same file version."""
    return sum((s.path, s.size, s.mtime_ns) not in recorded for s in skips)


def plan_changes(store: IndexStore, walk: WalkResult, sampling: Sampling | None = None) -> Plan:
    """Which files need encoding and which index entries are stale. ``sampling`` None: a video
    of the same size and mtime keeps the sampling it was indexed with (a plain re-run), and a
    changed one is sampled again the same way (``sampled_as``); given, a video sampled
    otherwise is re-sampled."""
    items = store.items
    spec = sampling.spec() if sampling is not None else None
    known = {}
    if len(items):
        for p, s, m, sp in zip(
            items["path"], items["size"], items["mtime_ns"], items["sampling"], strict=True
        ):
            known[p] = (s, m, sp if isinstance(sp, str) else None)

    def as_indexed(f: FileEntry) -> bool:
        size, mtime, recorded = known.get(f.path, (None, None, None))
        if (size, mtime) != (f.size, f.mtime_ns):
            return False
        if f.kind != "video":
            return recorded is None
        return recorded is not None and (spec is None or recorded == spec)

    todo = [with_recorded_sampling(f, known) if spec is None else f for f in walk.files if not as_indexed(f)]
    unchanged = len(walk.files) - len(todo)
    recorded = recorded_skips(store)
    still = [
        Skip(f.path, recorded[key], f.size, f.mtime_ns)
        for f in todo
        if (key := (f.path, f.size, f.mtime_ns)) in recorded
    ]
    todo = [f for f in todo if (f.path, f.size, f.mtime_ns) not in recorded]
    if not len(items):
        return Plan(todo, unchanged, np.zeros(0, dtype=np.int64), still)
    present = {f.path for f in walk.files}
    under = items["path"].map(lambda p: is_under(p, walk.roots)).astype(bool)
    stale = items.index[under & ~items["path"].isin(present)]
    return Plan(todo, unchanged, stale.to_numpy(dtype=np.int64), still)


def with_recorded_sampling(entry: FileEntry, known: dict[str, tuple[Any, Any, str | None]]) -> FileEntry:
    """A video indexed before carries the sampling it was indexed with (``sampled_as``)."""
    recorded = known.get(entry.path, (None, None, None))[2]
    return replace(entry, sampled_as=recorded) if entry.kind == "video" and recorded else entry


def sampling_for(entry: FileEntry, chosen: Sampling | None) -> Sampling:
    """How to sample the video ``entry``: as the run was told, else as it was indexed (a plain
    re-run of a changed video), else the default."""
    if chosen is not None:
        return chosen
    return Sampling.from_spec(entry.sampled_as) if entry.sampled_as else Sampling()


def skips_frame(skips: list[Skip]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "path": [s.path for s in skips],
            "reason": [s.reason for s in skips],
            "size": [s.size for s in skips],
            "mtime_ns": [s.mtime_ns for s in skips],
        }
    )
