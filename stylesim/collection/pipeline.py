"""reader -> encoder -> journal: decode files in worker threads while the model runs, batch
them by input shape, encode each batch once for every descriptor, and journal it at once.

Incremental rules (per file path, under the folders and files given in this run):
  same size and mtime as indexed   -> unchanged, not read
  new, or size/mtime changed       -> (re-)encoded; the new entry replaces the old one
  indexed but gone from disk        -> removed
  cannot be decoded                 -> skipped with the reason (and an older entry removed)
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from stylesim.collection.decode import DEFAULT_MAX_PIXELS, DecodedImage, decode_for_encoding
from stylesim.collection.walk import FileEntry, Skip, WalkResult
from stylesim.descriptors.extract import DescriptorExtractor
from stylesim.errors import DecodeError
from stylesim.index.store import IndexStore, is_under


@dataclass
class IndexReport:
    added: int = 0
    unchanged: int = 0
    removed: int = 0
    resumed: int = 0  # items recovered from an interrupted run's journal
    ignored: int = 0
    skipped: list[Skip] = field(default_factory=list)
    refitted: list[str] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    total: int = 0  # items in the index afterwards


@dataclass
class Plan:
    todo: list[FileEntry]
    unchanged: int
    stale_ids: np.ndarray  # entries to remove: deleted, or now unreadable


def plan_changes(store: IndexStore, walk: WalkResult) -> Plan:
    """Which files need encoding and which index entries are stale."""
    items = store.items
    known = {p: (s, m) for p, s, m in zip(items["path"], items["size"], items["mtime_ns"])} if len(items) else {}
    todo = [f for f in walk.files if known.get(f.path) != (f.size, f.mtime_ns)]
    unchanged = len(walk.files) - len(todo)
    if not len(items):
        return Plan(todo, unchanged, np.zeros(0, dtype=np.int64))
    present = {f.path for f in walk.files}
    under = items["path"].map(lambda p: is_under(p, walk.roots)).astype(bool)
    stale = items.index[under & ~items["path"].isin(present) & (items["kind"] == "image")]
    return Plan(todo, unchanged, stale.to_numpy(dtype=np.int64))


class _Batcher:
    """Groups decoded images by input shape; hands out full batches, and the largest partial
    one when too many images wait (bounds what an interruption can lose)."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.waiting: dict[tuple[int, int], list[tuple[FileEntry, DecodedImage]]] = {}

    def add(self, entry: FileEntry, image: DecodedImage) -> list[tuple[FileEntry, DecodedImage]] | None:
        shape = image.pixels.shape[:2]
        bucket = self.waiting.setdefault(shape, [])
        bucket.append((entry, image))
        if len(bucket) >= self.batch_size:
            return self.waiting.pop(shape)
        if sum(len(b) for b in self.waiting.values()) >= 2 * self.batch_size:
            largest = max(self.waiting, key=lambda s: len(self.waiting[s]))
            return self.waiting.pop(largest)
        return None

    def drain(self) -> list[list[tuple[FileEntry, DecodedImage]]]:
        batches = list(self.waiting.values())
        self.waiting.clear()
        return batches


def encode_files(
    store: IndexStore,
    extractor: DescriptorExtractor,
    files: list[FileEntry],
    size: int,
    batch_size: int = 16,
    workers: int = 2,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[int, list[Skip]]:
    """Decode (in ``workers`` threads), encode and journal ``files``; returns (encoded, skips)."""
    skips: list[Skip] = []
    encoded = 0
    batcher = _Batcher(batch_size)

    def flush(batch: list[tuple[FileEntry, DecodedImage]]) -> None:
        nonlocal encoded
        pixels = np.stack([img.pixels for _, img in batch])
        raw = extractor(pixels)
        ids = store.allocate_ids(len(batch))
        rows = [
            {"path": e.path, "kind": "image", "size": e.size, "mtime_ns": e.mtime_ns, "sha256": img.sha256, "width": img.width, "height": img.height}
            for e, img in batch
        ]
        store.write_pending(ids, raw, rows)
        encoded += len(batch)
        if on_progress:
            on_progress(len(batch))

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="decode") as pool:
        queue: deque[tuple[FileEntry, Future]] = deque()
        pending = iter(files)
        lookahead = max(2 * batch_size, 4 * workers)

        def refill() -> None:
            while len(queue) < lookahead:
                entry = next(pending, None)
                if entry is None:
                    return
                queue.append((entry, pool.submit(decode_for_encoding, entry.path, size, max_pixels)))

        try:
            refill()
            while queue:
                entry, future = queue.popleft()
                refill()
                try:
                    image = future.result()
                except DecodeError as err:
                    skips.append(Skip(entry.path, err.reason, entry.size, entry.mtime_ns))
                    if on_progress:
                        on_progress(1)
                    continue
                batch = batcher.add(entry, image)
                if batch:
                    flush(batch)
            for batch in batcher.drain():
                flush(batch)
        except BaseException:
            for _, future in queue:
                future.cancel()
            raise
    return encoded, skips


def skips_frame(skips: list[Skip]) -> pd.DataFrame:
    return pd.DataFrame(
        {"path": [s.path for s in skips], "reason": [s.reason for s in skips], "size": [s.size for s in skips], "mtime_ns": [s.mtime_ns for s in skips]}
    )


def index_collection(
    store: IndexStore,
    extractor: DescriptorExtractor,
    walk: WalkResult,
    size: int,
    batch_size: int = 16,
    workers: int = 2,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_plan: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> IndexReport:
    """Bring ``store`` up to date with ``walk`` and commit. On KeyboardInterrupt the batches
    already encoded are committed before the interrupt propagates."""
    start = time.perf_counter()
    report = IndexReport(ignored=walk.ignored)
    report.resumed = store.merge_pending()  # an interrupted run's batches come first
    plan = plan_changes(store, walk)
    report.unchanged = plan.unchanged
    if on_plan:
        on_plan(len(plan.todo))
    skips = list(walk.skipped)
    try:
        skips += encode_files(store, extractor, plan.todo, size, batch_size, workers, max_pixels, on_progress)[1]
    except KeyboardInterrupt:
        report.interrupted = True  # keep what was encoded; stale entries are handled next run
    if not report.interrupted:
        skipped_paths = {s.path for s in skips}
        unreadable = store.items.index[store.items["path"].isin(skipped_paths)].to_numpy()
        report.removed = store.remove(np.union1d(plan.stale_ids, unreadable))
        store.set_skipped(skips_frame(skips), walk.roots)
        report.skipped = skips
    report.added = store.merge_pending() + report.resumed
    report.refitted = store.refit_if_needed()
    store.commit()
    report.total = len(store)
    report.seconds = time.perf_counter() - start
    if report.interrupted:
        raise KeyboardInterrupt
    return report
