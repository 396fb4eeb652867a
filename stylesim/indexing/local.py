"""The local engine: an indexing run on this machine in three overlapped stages, with bounded
queues between them.

    reader  image files decoded by worker processes, each video sampled in its own process
            (``collection.pool``); pictures land in shared-memory slots
    device  (this thread) pictures batched by input shape, moved to the device as uint8, VGG19
            and every descriptor there (``descriptors.extract``): one (N, D) tensor per batch
    writer  (a thread) one device->host copy per batch, journalled at once (``indexing.writer``)

The same code runs on CPU and CUDA: only pinned host memory, non-blocking copies and cuDNN
autotuning are switched on for CUDA. Ctrl-C stops the reader and the device stage; what reached
the writer is journalled and committed before the interrupt propagates. ``kill -9`` loses at most
the batches not yet journalled; the next run merges the journal first. What is (re-)encoded and
what is removed: ``indexing.plan``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
import torch

from stylesim.collection.decode import DEFAULT_MAX_PIXELS
from stylesim.collection.pool import Decoded, DecodePool, Frame, VideoSampler
from stylesim.collection.slots import SharedSlots, slot_bytes
from stylesim.collection.video import Sampling
from stylesim.collection.walk import FileEntry, Skip, WalkResult
from stylesim.descriptors.extract import DescriptorExtractor
from stylesim.encoding.batches import ShapeBatcher
from stylesim.encoding.device import cuda_tuning
from stylesim.index.store import IndexStore
from stylesim.indexing.plan import IndexReport, sampling_for
from stylesim.indexing.run import (
    Progress,
    VideoResult,
    conduct,
    count_video,
    frame_row,
    image_row,
    video_columns,
    video_result,
)
from stylesim.indexing.writer import Encoded, JournalWriter, VideoEnd


@dataclass
class Run:
    """What the stages of one run share."""

    store: IndexStore
    extractor: DescriptorExtractor
    pool: DecodePool
    writer: JournalWriter
    size: int
    batch_size: int
    on_progress: Progress


def slot_count(batch_size: int, workers: int) -> int:
    """Slots enough for the pictures the batcher may hold (2 x batch size), a batch being stacked
    and the files in flight in the workers."""
    return 3 * batch_size + 4 * max(1, workers) + 4


def device_vectors(
    run: Run, slots: list[int], shape: tuple[int, ...], release: Callable[[int], None]
) -> torch.Tensor:
    """The descriptors (on the device) of the pictures in ``slots``, all of ``shape``; the slots
    are handed back as soon as the pictures are copied out."""
    pinned = run.extractor.device.type == "cuda"
    host = torch.empty((len(slots), *shape), dtype=torch.uint8, pin_memory=pinned)
    np.stack([run.pool.slots.view(slot, shape) for slot in slots], out=host.numpy())
    for slot in slots:
        release(slot)
    return run.extractor.encode(run.extractor.to_device(host))


def encode_images(run: Run, files: Iterable[FileEntry]) -> list[Skip]:
    """Decode, encode and journal ``files``; returns the files that could not be decoded."""
    skips: list[Skip] = []
    batcher: ShapeBatcher[tuple[FileEntry, Decoded]] = ShapeBatcher(run.batch_size)
    for entry, result in run.pool.decode(files):
        if isinstance(result, str):
            skips.append(Skip(entry.path, result, entry.size, entry.mtime_ns))
            run.on_progress(1)
        elif batch := batcher.add((entry, result), result.shape):
            write_images(run, batch)
    for batch in batcher.drain():
        write_images(run, batch)
    return skips


def write_images(run: Run, batch: list[tuple[FileEntry, Decoded]]) -> None:
    vectors = device_vectors(run, [d.slot for _, d in batch], batch[0][1].shape, run.pool.release)
    rows = [image_row(e, d.sha256, d.width, d.height) for e, d in batch]
    run.writer.put(Encoded(vectors, rows))


def encode_video(run: Run, entry: FileEntry, sampling: Sampling) -> VideoResult:
    """Sample one video in its own process while its frames are encoded in batches; the writer
    journals all of them together when the video ends."""
    sampler = VideoSampler(run.pool, entry.path, sampling, run.size, in_flight=max(4, 2 * run.batch_size))
    frames, pending = 0, []
    try:
        for frame in sampler:
            pending.append(frame)
            if len(pending) >= run.batch_size:
                frames += write_frames(run, sampler, entry, sampling, pending)
                pending = []
        if pending:
            frames += write_frames(run, sampler, entry, sampling, pending)
    finally:
        sampler.close()
    if sampler.skip is not None:
        run.writer.put(VideoEnd(entry.path, keep=False))
    else:
        run.writer.put(VideoEnd(entry.path, keep=True, extra=video_columns(sampler.report)))
    return video_result(entry, frames, sampler.skip, sampler.report.problem)


def write_frames(
    run: Run, sampler: VideoSampler, entry: FileEntry, sampling: Sampling, frames: list[Frame]
) -> int:
    vectors = device_vectors(run, [f.slot for f in frames], frames[0].shape, sampler.release)
    spec = sampling.spec()
    rows = [frame_row(entry, f.time, f.index, spec) for f in frames]
    run.writer.put(Encoded(vectors, rows, video=entry.path))
    return len(frames)


def encode_videos(
    run: Run, videos: list[FileEntry], sampling: Sampling | None, report: IndexReport
) -> list[Skip]:
    """Each video sampled as ``sampling`` says, or as it was indexed (``plan.sampling_for``)."""
    skips = []
    for entry in videos:
        skips += count_video(report, encode_video(run, entry, sampling_for(entry, sampling)))
        run.on_progress(1)
    return skips


def run_stages(
    store: IndexStore, extractor: DescriptorExtractor, todo: list[FileEntry],
    settings: tuple[int, int, int, int], on_progress: Progress, sampling: Sampling | None,
    report: IndexReport,
) -> list[Skip]:  # fmt: skip
    """Encode and journal every file of ``todo``; returns the files that could not be indexed.
    ``settings`` = (size, batch_size, workers, max_pixels)."""
    size, batch_size, workers, max_pixels = settings
    with ExitStack() as stack:
        slots = SharedSlots(slot_count(batch_size, workers), slot_bytes(size))
        stack.callback(slots.close)
        pool = DecodePool(slots, workers, size, max_pixels)
        stack.callback(pool.close)
        writer = JournalWriter(store, extractor, on_progress)
        stack.callback(writer.finish)  # journals what is queued, also after Ctrl-C
        stack.enter_context(cuda_tuning(extractor.device))
        run = Run(store, extractor, pool, writer, size, batch_size, on_progress)
        skips = encode_images(run, [f for f in todo if f.kind == "image"])
        return skips + encode_videos(run, [f for f in todo if f.kind == "video"], sampling, report)
    raise AssertionError("unreachable")  # the with block returns


def index_collection(
    store: IndexStore,
    extractor: DescriptorExtractor,
    walk: WalkResult,
    size: int,
    batch_size: int = 16,
    workers: int = 1,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_plan: Progress | None = None,
    on_progress: Progress | None = None,
    sampling: Sampling | None = None,
) -> IndexReport:
    """Bring ``store`` up to date with ``walk`` and commit (``indexing.run.conduct``). On
    KeyboardInterrupt what was encoded is committed before the interrupt propagates."""
    settings = (size, batch_size, workers, max_pixels)
    progress = on_progress or (lambda _: None)

    def encode(todo: list[FileEntry], report: IndexReport) -> list[Skip]:  # sampling None: as indexed
        return run_stages(store, extractor, todo, settings, progress, sampling, report)

    return conduct(store, walk, sampling, on_plan, encode)
