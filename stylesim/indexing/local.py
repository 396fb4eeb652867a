"""The local engine, reader -> encoder -> journal: decode files in worker threads while the model
runs, batch them by input shape, encode each batch once for every descriptor, and journal it at
once.

Images are decoded by a thread pool and journalled batch by batch. A video is sampled by its
own thread (collection/video.py) while the model encodes the frames already sampled; all of a
video's frames are journalled together once the video is done, so an index never holds half
a video.

Incremental rules (per file path, under the folders and files given in this run):
  same size and mtime as indexed   -> unchanged, not read (videos: also the same sampling)
  new, or size/mtime changed       -> (re-)encoded; the new entries replace the old ones
  indexed but gone from disk        -> removed
  cannot be decoded                 -> skipped with the reason (and older entries removed)
  video partly decodable            -> its good frames are kept; reported as damaged
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from stylesim.collection.decode import DEFAULT_MAX_PIXELS, DecodedImage, decode_for_encoding
from stylesim.collection.video import SampledFrame, SampleReport, Sampling, sample_video
from stylesim.collection.walk import FileEntry, Skip, WalkResult
from stylesim.descriptors.extract import DescriptorExtractor
from stylesim.encoding.batches import ShapeBatcher
from stylesim.errors import DecodeError
from stylesim.index.store import IndexStore
from stylesim.indexing.plan import IndexReport, count_new_skips, plan_changes, recorded_skips, skips_frame


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
    batcher: ShapeBatcher[tuple[FileEntry, DecodedImage]] = ShapeBatcher(batch_size)

    def flush(batch: list[tuple[FileEntry, DecodedImage]]) -> None:
        nonlocal encoded
        pixels = np.stack([img.pixels for _, img in batch])
        raw = extractor(pixels)
        ids = store.allocate_ids(len(batch))
        rows = [
            {
                "path": e.path,
                "kind": "image",
                "size": e.size,
                "mtime_ns": e.mtime_ns,
                "sha256": img.sha256,
                "width": img.width,
                "height": img.height,
            }
            for e, img in batch
        ]
        store.write_pending(ids, raw, rows)
        encoded += len(batch)
        if on_progress:
            on_progress(len(batch))

    for entry, image in _decoded_in_order(files, size, workers, max_pixels, max(2 * batch_size, 4 * workers)):
        if isinstance(image, DecodeError):
            skips.append(Skip(entry.path, image.reason, entry.size, entry.mtime_ns))
            if on_progress:
                on_progress(1)
            continue
        batch = batcher.add((entry, image), image.pixels.shape[:2])
        if batch:
            flush(batch)
    for batch in batcher.drain():
        flush(batch)
    return encoded, skips


def _decoded_in_order(
    files: list[FileEntry], size: int, workers: int, max_pixels: int, lookahead: int
) -> Iterator[tuple[FileEntry, DecodedImage | DecodeError]]:
    """Decode ``files`` in ``workers`` threads, ``lookahead`` ahead, yielding in order each file
    with its image or the reason it could not be decoded."""
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="decode") as pool:
        queue: deque[tuple[FileEntry, Future[DecodedImage]]] = deque()
        pending = iter(files)
        try:
            while True:
                while len(queue) < lookahead and (entry := next(pending, None)) is not None:
                    queue.append((entry, pool.submit(decode_for_encoding, entry.path, size, max_pixels)))
                if not queue:
                    return
                entry, future = queue.popleft()
                try:
                    yield entry, future.result()
                except DecodeError as err:
                    yield entry, err
        finally:
            for _, future in queue:
                future.cancel()


@dataclass
class VideoResult:
    frames: int = 0
    skip: Skip | None = None  # nothing usable
    damaged: Skip | None = None  # frames kept, but part of the file could not be decoded


_DONE = object()


def _sample_in_thread(
    entry: FileEntry,
    sampling: Sampling,
    size: int,
    report: SampleReport,
    out: queue.Queue[object],
    stop: threading.Event,
) -> None:
    """Producer: sampled frames into ``out``, then an exception or _DONE."""

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for frame in sample_video(entry.path, sampling, size, report):
            if not put(frame):
                return
        put(_DONE)
    except BaseException as err:  # handed to the consumer, which raises or reports it
        put(err)


def encode_video(
    store: IndexStore,
    extractor: DescriptorExtractor,
    entry: FileEntry,
    sampling: Sampling,
    size: int,
    batch_size: int,
) -> VideoResult:
    """Sample one video in a background thread while the model encodes its frames in batches;
    journal all of its frames as one shard at the end."""
    report = SampleReport()
    frames: queue.Queue[object] = queue.Queue(maxsize=max(4, 2 * batch_size))
    stop = threading.Event()
    args = (entry, sampling, size, report, frames, stop)
    thread = threading.Thread(target=_sample_in_thread, args=args, name="video-decode", daemon=True)
    thread.start()
    sampled: list[SampledFrame] = []
    raw_parts: dict[str, list[np.ndarray]] = {}
    pending: list[SampledFrame] = []

    def encode(batch: list[SampledFrame]) -> None:
        for name, vectors in extractor(np.stack([f.pixels for f in batch])).items():
            raw_parts.setdefault(name, []).append(vectors)
        sampled.extend(batch)

    try:
        while True:
            item = frames.get()
            if item is _DONE:
                break
            if isinstance(item, DecodeError):
                return VideoResult(skip=Skip(entry.path, item.reason, entry.size, entry.mtime_ns))
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, SampledFrame)
            pending.append(item)
            if len(pending) >= batch_size:
                encode(pending)
                pending = []
        if pending:
            encode(pending)
    finally:
        stop.set()
        thread.join()
    ids = store.allocate_ids(len(sampled))
    rows = frame_rows(entry, report, sampling, sampled)
    store.write_pending(ids, {name: np.concatenate(parts) for name, parts in raw_parts.items()}, rows)
    damaged = None
    if report.problem:
        damaged = Skip(
            entry.path, f"{report.problem}; kept {len(sampled)} frames", entry.size, entry.mtime_ns
        )
    return VideoResult(frames=len(sampled), damaged=damaged)


def frame_rows(
    entry: FileEntry, report: SampleReport, sampling: Sampling, frames: list[SampledFrame]
) -> list[dict[str, Any]]:
    """The metadata rows of a video's sampled frames."""
    info = report.info
    assert info is not None  # filled by sample_video before its first frame
    video = {
        "path": entry.path, "kind": "frame", "size": entry.size, "mtime_ns": entry.mtime_ns,
        "sha256": report.sha256, "width": info.width, "height": info.height, "video": entry.path,
        "duration": info.duration, "fps": info.fps, "sampling": sampling.spec(),
    }  # fmt: skip
    return [{**video, "time": f.time, "frame": f.index} for f in frames]


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
    sampling: Sampling | None = None,
) -> IndexReport:
    """Bring ``store`` up to date with ``walk`` and commit. On KeyboardInterrupt the batches
    (and whole videos) already encoded are committed before the interrupt propagates."""
    start = time.perf_counter()
    sampling = sampling or Sampling()
    report = IndexReport(ignored=walk.ignored)
    report.resumed = store.merge_pending()  # an interrupted run's batches come first
    plan = plan_changes(store, walk, sampling)
    report.unchanged = plan.unchanged
    if on_plan:
        on_plan(len(plan.todo))
    recorded = recorded_skips(store)
    skips = list(walk.skipped) + plan.still_skipped
    images = [f for f in plan.todo if f.kind == "image"]
    videos = [f for f in plan.todo if f.kind == "video"]
    try:
        skips += encode_files(store, extractor, images, size, batch_size, workers, max_pixels, on_progress)[1]
        for entry in videos:
            result = encode_video(store, extractor, entry, sampling, size, batch_size)
            if result.skip:
                skips.append(result.skip)
            else:
                report.videos += 1
                report.frames += result.frames
            if result.damaged:
                report.damaged.append(result.damaged)
            if on_progress:
                on_progress(1)
    except KeyboardInterrupt:
        report.interrupted = True  # keep what was encoded; stale entries are handled next run
    if not report.interrupted:
        skipped_paths = {s.path for s in skips}
        unreadable = store.items.index[store.items["path"].isin(skipped_paths)].to_numpy()
        report.removed = store.remove(np.union1d(plan.stale_ids, unreadable))
        store.set_skipped(skips_frame(skips), walk.roots)
        report.skipped = skips
        report.new_skips = count_new_skips(skips, recorded)
    report.added = store.merge_pending() + report.resumed
    report.refitted = store.refit_if_needed()
    store.commit()
    report.total = len(store)
    report.seconds = time.perf_counter() - start
    if report.interrupted:
        raise KeyboardInterrupt
    return report
