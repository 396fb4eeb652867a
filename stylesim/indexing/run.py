"""What every indexing engine's run shares: the frame around the encoding (merge an interrupted
run's journal, plan what changed, then remove stale entries, record skips, merge the journal,
refit, compact and commit) and the metadata rows and video outcomes the encoding produces.

An engine supplies only ``Encode``: journal the given files (``IndexStore.write_pending`` or
``index.journal.write_shard``, raw vectors) and return the files it could not index.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from stylesim.collection.video import SampleReport, Sampling
from stylesim.collection.walk import FileEntry, Skip, WalkResult
from stylesim.index.store import IndexStore
from stylesim.indexing.plan import (
    IndexReport,
    SkipKey,
    count_new_skips,
    plan_changes,
    recorded_skips,
    skips_frame,
)

Progress = Callable[[int], None]
Encode = Callable[[list[FileEntry], IndexReport], list[Skip]]


@dataclass
class VideoResult:
    frames: int = 0
    skip: Skip | None = None  # nothing usable
    damaged: Skip | None = None  # frames kept, but part of the file could not be decoded


def conduct(
    store: IndexStore, walk: WalkResult, sampling: Sampling | None, on_plan: Progress | None, encode: Encode
) -> IndexReport:
    """Bring ``store`` up to date with ``walk`` (``encode`` journals the files to (re-)encode)
    and commit. On KeyboardInterrupt what was journalled is committed before the interrupt
    propagates."""
    start = time.perf_counter()
    report = IndexReport(ignored=walk.ignored)
    report.resumed = store.merge_pending()  # an interrupted run's batches come first
    plan = plan_changes(store, walk, sampling)
    recorded = recorded_skips(store)
    report.unchanged = plan.unchanged
    if on_plan:
        on_plan(len(plan.todo))
    skips = list(walk.skipped) + plan.still_skipped
    try:
        skips += encode(plan.todo, report)
    except KeyboardInterrupt:
        report.interrupted = True  # keep what was encoded; stale entries are handled next run
    finish_run(store, walk, plan.stale_ids, skips, recorded, report)
    report.seconds = time.perf_counter() - start
    if report.interrupted:
        raise KeyboardInterrupt
    return report


def finish_run(
    store: IndexStore,
    walk: WalkResult,
    stale_ids: np.ndarray,
    skips: list[Skip],
    recorded: dict[SkipKey, str],
    report: IndexReport,
) -> None:
    """Remove stale entries and record the skips (unless interrupted), merge the journal, commit."""
    if not report.interrupted:
        unreadable = store.items.index[store.items["path"].isin({s.path for s in skips})].to_numpy()
        report.removed = store.remove(np.union1d(stale_ids, unreadable))
        store.set_skipped(skips_frame(skips), walk.roots)
        report.skipped = skips
        report.new_skips = count_new_skips(skips, recorded)
    report.added = store.merge_pending() + report.resumed
    report.refitted = store.refit_if_needed()
    report.compacted = store.compact()
    store.commit()
    report.total = len(store)


def image_row(entry: FileEntry, sha256: str, width: int, height: int) -> dict[str, Any]:
    """The metadata row of an image file."""
    return {"path": entry.path, "kind": "image", "size": entry.size, "mtime_ns": entry.mtime_ns,
            "sha256": sha256, "width": width, "height": height}  # fmt: skip


def frame_row(entry: FileEntry, seconds: float, index: int, spec: str) -> dict[str, Any]:
    """The metadata row of a video frame, before the video's own columns (``video_columns``)."""
    return {"path": entry.path, "kind": "frame", "size": entry.size, "mtime_ns": entry.mtime_ns,
            "video": entry.path, "time": seconds, "frame": index, "sampling": spec}  # fmt: skip


def video_columns(report: SampleReport) -> dict[str, object]:
    """What every frame row of a video gets once the video is sampled (the duration is final then)."""
    info = report.info
    assert info is not None  # filled by sample_video before its first frame
    return {
        "sha256": report.sha256,
        "width": info.width,
        "height": info.height,
        "duration": info.duration,
        "fps": info.fps,
    }


def video_result(entry: FileEntry, frames: int, skip: str | None, problem: str | None) -> VideoResult:
    """A sampled video's outcome: skipped (``skip``: nothing usable), or ``frames`` kept and
    damaged when sampling met a ``problem``."""
    if skip is not None:
        return VideoResult(skip=Skip(entry.path, skip, entry.size, entry.mtime_ns))
    damaged = (
        Skip(entry.path, f"{problem}; kept {frames} frames", entry.size, entry.mtime_ns) if problem else None
    )
    return VideoResult(frames=frames, damaged=damaged)


def count_video(report: IndexReport, result: VideoResult) -> list[Skip]:
    """Add a video's outcome to ``report``; returns its skip, if it was skipped."""
    if result.damaged:
        report.damaged.append(result.damaged)
    if result.skip:
        return [result.skip]
    report.videos += 1
    report.frames += result.frames
    return []
