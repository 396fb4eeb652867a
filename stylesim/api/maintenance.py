"""Keeping an index in shape: merging its segments (``stylesim compact``, which also upgrades a
format 1 index in place) and dropping the items whose files are gone (``stylesim prune``)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from stylesim.api.indexes import resolve_index_dir
from stylesim.index.frames import SKIP_DTYPES
from stylesim.index.store import IndexStore


@dataclass
class CompactReport:
    segments_before: int
    segments_after: int
    items: int
    disk_before: int
    disk_after: int
    seconds: float


@dataclass
class PruneReport:
    removed: int = 0  # items
    files: list[str] = field(default_factory=list)  # the gone files (images and videos)
    skips_dropped: int = 0
    items: int = 0  # left
    seconds: float = 0.0


def compact_index(index: str | Path | None = None) -> CompactReport:
    """Merge every segment of the index into one (deleted items go for good) and commit."""
    start = time.perf_counter()
    with IndexStore.open_for_writing(resolve_index_dir(index)) as store:
        before, disk_before = len(store.segments), store.disk_bytes()
        store.merge_pending()
        store.compact(everything=True)
        store.commit()
        return CompactReport(
            before,
            len(store.segments),
            len(store),
            disk_before,
            store.disk_bytes(),
            time.perf_counter() - start,
        )


def gone_files(paths: pd.Series) -> list[str]:
    """The distinct paths that no longer exist (a vanished folder makes all its files gone)."""
    return [p for p in pd.unique(paths.dropna()) if not os.path.exists(p)]


def prune_index(index: str | Path | None = None) -> PruneReport:
    """Remove the items whose files no longer exist, and the skip records of gone files; the
    automatic compaction policy then runs, and the result is committed."""
    start = time.perf_counter()
    report = PruneReport()
    with IndexStore.open_for_writing(resolve_index_dir(index)) as store:
        store.merge_pending()
        items = store.items
        report.files = gone_files(items["path"])
        report.removed = store.remove(items.index[items["path"].isin(report.files)].to_numpy(np.int64))
        skipped = store.skipped
        kept = skipped[[os.path.exists(p) for p in skipped["path"]]] if len(skipped) else skipped
        report.skips_dropped = len(skipped) - len(kept)
        if report.skips_dropped:
            store.set_skipped(kept.astype(SKIP_DTYPES).reset_index(drop=True), ["/"])
        store.refit_if_needed()
        store.compact()
        store.commit()
        report.items = len(store)
    report.seconds = time.perf_counter() - start
    return report
