"""Decoding in other processes, so that neither PIL (which holds the GIL for parts of decoding)
nor FFmpeg ever stalls the process that feeds the network.

- ``DecodePool``: image files decoded by worker processes into shared-memory slots
  (``collection.slots``), handed back in file order; as many files in flight as there are free
  slots, so memory stays bounded however long the list is.
- ``VideoSampler``: one video sampled (``collection.video.sample_video``) in its own process,
  frames written into slots the parent hands it, one by one.

Workers are forked where the platform can (Linux, as PyTorch's DataLoader does): they start at
once, inherit the shared memory instead of attaching to it, and never re-import the caller's
script (a script that calls ``api.build_index`` needs no ``if __name__ == "__main__"`` guard).
They only decode (PIL, FFmpeg); the network never runs in them. Elsewhere they are spawned and
attach to the slots by name. Workers ignore Ctrl-C: the parent decides what an interrupt means
(commit what was encoded) and shuts them down. With ``workers=0`` images are decoded in the
calling process (same slots, same results), for machines with one core and for tests.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import queue
import signal
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.context import ForkContext, SpawnContext

from stylesim.collection.decode import decode_for_encoding
from stylesim.collection.slots import SharedSlots, SlotAllocator
from stylesim.collection.video import SampleReport, Sampling, sample_video
from stylesim.collection.walk import FileEntry
from stylesim.errors import DecodeError

_WORKER_SLOTS: SharedSlots | None = None
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_POLL_SECONDS = 0.2


SlotsHandle = SharedSlots | tuple[str, int, int]  # the slots themselves (fork) or how to attach (spawn)


def context() -> ForkContext | SpawnContext:
    """fork where the platform has it, else spawn (module docstring)."""
    if "fork" in multiprocessing.get_all_start_methods():
        return ForkContext()
    return SpawnContext()


def handle(slots: SharedSlots, ctx: ForkContext | SpawnContext) -> SlotsHandle:
    """What a child process needs to reach the slots."""
    return slots if ctx.get_start_method() == "fork" else (slots.name, slots.count, slots.nbytes)


def attach(slots: SlotsHandle) -> SharedSlots:
    return slots if isinstance(slots, SharedSlots) else SharedSlots.attach(*slots)


@dataclass(frozen=True)
class Decoded:
    slot: int
    shape: tuple[int, ...]  # (H, W, 3)
    width: int  # of the original picture
    height: int
    sha256: str


def die_with_parent() -> None:
    """In a worker: ignore Ctrl-C (the parent decides), die at once on SIGTERM (a forked worker
    inherits the parent's handler that turns it into KeyboardInterrupt, ``cli.signals``), and let
    the kernel end this process when the parent dies, even by ``kill -9`` (Linux
    PR_SET_PDEATHSIG; elsewhere a no-op)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _start_worker(slots: SlotsHandle) -> None:
    global _WORKER_SLOTS  # noqa: PLW0603 - one attachment per worker process
    die_with_parent()
    _WORKER_SLOTS = attach(slots)


def decode_into(slots: SharedSlots, path: str, size: int, max_pixels: int, slot: int) -> Decoded | str:
    """Decode ``path`` into ``slot``; the reason as a string if it cannot be decoded."""
    try:
        image = decode_for_encoding(path, size, max_pixels)
    except DecodeError as err:
        return err.reason
    slots.view(slot, image.pixels.shape)[...] = image.pixels
    return Decoded(slot, image.pixels.shape, image.width, image.height, image.sha256)


def _decode_in_worker(path: str, size: int, max_pixels: int, slot: int) -> Decoded | str:
    assert _WORKER_SLOTS is not None, "worker not started"
    return decode_into(_WORKER_SLOTS, path, size, max_pixels, slot)


class DecodePool:
    """Image files -> decoded pictures in shared slots (module docstring). The caller reads a
    picture with ``pixels`` and hands its slot back with ``release`` once it has copied it."""

    def __init__(self, slots: SharedSlots, workers: int, size: int, max_pixels: int) -> None:
        self.slots, self.size, self.max_pixels = slots, size, max_pixels
        self.allocator = SlotAllocator(slots.count)
        self.executor = None
        if workers > 0:
            ctx = context()
            init = (handle(slots, ctx),)
            self.executor = ProcessPoolExecutor(
                workers, mp_context=ctx, initializer=_start_worker, initargs=init
            )

    def _submit(self, entry: FileEntry, slot: int) -> Future[Decoded | str]:
        if self.executor is not None:
            return self.executor.submit(_decode_in_worker, entry.path, self.size, self.max_pixels, slot)
        done: Future[Decoded | str] = Future()
        done.set_result(decode_into(self.slots, entry.path, self.size, self.max_pixels, slot))
        return done

    def decode(self, files: Iterable[FileEntry]) -> Iterator[tuple[FileEntry, Decoded | str]]:
        """Each file with its decoded picture (or the reason it failed), in order."""
        pending: deque[tuple[FileEntry, int, Future[Decoded | str]]] = deque()
        remaining = iter(files)
        while True:
            while (slot := self.allocator.take()) is not None:
                entry = next(remaining, None)
                if entry is None:
                    self.allocator.give_back(slot)
                    break
                pending.append((entry, slot, self._submit(entry, slot)))
            if not pending:
                return
            entry, slot, future = pending.popleft()
            result = future.result()
            if isinstance(result, str):
                self.allocator.give_back(slot)
            yield entry, result

    def release(self, slot: int) -> None:
        self.allocator.give_back(slot)

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)


def _sample_in_process(
    path: str, sampling: Sampling, size: int, target: SlotsHandle,
    free: multiprocessing.Queue[int | None], out: multiprocessing.Queue[tuple[object, ...]],
) -> None:  # fmt: skip
    """The video process: frames into the slots the parent hands over, then the report."""
    die_with_parent()
    slots = attach(target)
    report = SampleReport()
    try:
        for frame in sample_video(path, sampling, size, report):
            slot = free.get()
            if slot is None:  # the parent stopped listening
                return
            slots.view(slot, frame.pixels.shape)[...] = frame.pixels
            out.put(("frame", slot, frame.pixels.shape, frame.time, frame.index))
        out.put(("done", report))
    except DecodeError as err:
        out.put(("skip", err.reason))
    except Exception as err:  # noqa: BLE001 - handed to the parent, which reports it
        out.put(("error", f"{type(err).__name__}: {err}"))
    finally:
        if not isinstance(target, SharedSlots):
            slots.close()  # an attachment of our own (a forked child shares the parent's)


@dataclass(frozen=True)
class Frame:
    slot: int
    shape: tuple[int, ...]
    time: float
    index: int


class VideoSampler:
    """One video sampled in its own process; iterate for ``Frame``s (release each one's slot),
    then read ``report``. A video with nothing decodable ends with ``skip`` set."""

    def __init__(self, pool: DecodePool, path: str, sampling: Sampling, size: int, in_flight: int) -> None:
        self.pool, self.path = pool, path
        ctx = context()
        self.free: multiprocessing.Queue[int | None] = ctx.Queue()
        self.out: multiprocessing.Queue[tuple[object, ...]] = ctx.Queue()
        self.handed: set[int] = set()
        self.report = SampleReport()
        self.skip: str | None = None
        while len(self.handed) < in_flight and (slot := pool.allocator.take()) is not None:
            self.handed.add(slot)
            self.free.put(slot)
        args = (path, sampling, size, handle(pool.slots, ctx), self.free, self.out)
        self.process = ctx.Process(target=_sample_in_process, args=args, name="video-sample", daemon=True)
        self.process.start()

    def __iter__(self) -> Iterator[Frame]:
        while True:
            message = self._next()
            kind = message[0]
            if kind == "frame":
                _, slot, shape, time, index = message
                yield Frame(int(slot), tuple(shape), float(time), int(index))  # type: ignore[arg-type, call-overload]
            elif kind == "done":
                self.report = message[1]  # type: ignore[assignment]
                return
            elif kind == "skip":
                self.skip = str(message[1])
                return
            else:
                raise RuntimeError(f"{self.path}: video sampling failed ({message[1]})")

    def _next(self) -> tuple[object, ...]:
        while True:
            try:
                return self.out.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if not self.process.is_alive() and self.out.empty():
                    code = self.process.exitcode
                    raise RuntimeError(
                        f"{self.path}: the video process ended without a word (exit code {code})"
                    ) from None

    def release(self, slot: int) -> None:
        """A frame was copied: its slot goes back to the video process."""
        self.free.put(slot)

    def close(self) -> None:
        """Stop the process and give every slot back to the pool."""
        self.free.put(None)
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()
        for slot in self.handed:
            self.pool.release(slot)
        self.free.close()
        self.out.close()
