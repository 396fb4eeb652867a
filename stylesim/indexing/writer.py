"""The writer stage: a thread that takes encoded batches off the device stage, copies each batch's
descriptors to the host once, and journals it (``IndexStore.write_pending``: durable at once).
A video's frames are held until the video ends and journalled together, so an index never holds
half a video. The queue in front of it is bounded: a slow disk slows the device stage down
instead of filling memory."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from stylesim.descriptors.extract import DescriptorExtractor
from stylesim.index.store import IndexStore

QUEUE_BATCHES = 4
_POLL_SECONDS = 0.2


@dataclass
class Encoded:
    """One batch from the device stage: descriptors on the device and the items' metadata rows."""

    vectors: torch.Tensor  # (N, D) float32 on the device
    rows: list[dict[str, Any]]
    video: str | None = None  # frames of this video: held until ``VideoEnd``


@dataclass
class VideoEnd:
    video: str
    keep: bool  # False: the video was skipped, its frames are dropped
    extra: dict[str, Any] = field(default_factory=dict)  # columns every frame row gets (duration, fps ...)


def host_copy(vectors: torch.Tensor) -> np.ndarray:
    """One device->host copy (into pinned memory, without blocking the stream, on CUDA)."""
    if vectors.device.type != "cuda":
        return vectors.numpy()
    host = torch.empty(vectors.shape, dtype=vectors.dtype, pin_memory=True)
    host.copy_(vectors, non_blocking=True)
    torch.cuda.current_stream(vectors.device).synchronize()
    return host.numpy()


class JournalWriter:
    """Runs in its own thread; ``put`` batches, ``finish`` to wait for the last one (and raise
    whatever went wrong in the thread)."""

    def __init__(
        self, store: IndexStore, extractor: DescriptorExtractor, on_written: Callable[[int], None] | None
    ) -> None:
        self.store, self.extractor, self.on_written = store, extractor, on_written
        self.queue: queue.Queue[Encoded | VideoEnd | None] = queue.Queue(maxsize=QUEUE_BATCHES)
        self.error: BaseException | None = None
        self.written = 0  # items journalled
        self.held: dict[str, list[tuple[np.ndarray, list[dict[str, Any]]]]] = {}
        self.thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self.thread.start()

    def put(self, item: Encoded | VideoEnd) -> None:
        while True:
            self._raise_if_failed()
            try:
                self.queue.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """Journal everything queued, stop the thread, re-raise its error if it had one."""
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            while (item := self.queue.get()) is not None:
                if isinstance(item, VideoEnd):
                    self._end_video(item)
                elif item.video is not None:
                    self.held.setdefault(item.video, []).append((host_copy(item.vectors), item.rows))
                else:
                    self._journal(host_copy(item.vectors), item.rows)
        except BaseException as error:  # noqa: BLE001 - handed to the device stage by put/finish
            self.error = error
            while self.queue.get() is not None:  # drain so the device stage never blocks on a dead writer
                pass

    def _journal(self, flat: np.ndarray, rows: list[dict[str, Any]]) -> None:
        ids = self.store.allocate_ids(len(rows))
        self.store.write_pending(ids, self.extractor.split(flat), rows)
        self.written += len(rows)
        if self.on_written:
            self.on_written(len(rows))

    def _end_video(self, end: VideoEnd) -> None:
        parts = self.held.pop(end.video, [])
        if not end.keep or not parts:
            return
        rows = [{**row, **end.extra} for _, batch_rows in parts for row in batch_rows]
        ids = self.store.allocate_ids(len(rows))
        self.store.write_pending(ids, self.extractor.split(np.concatenate([flat for flat, _ in parts])), rows)
        self.written += len(rows)
