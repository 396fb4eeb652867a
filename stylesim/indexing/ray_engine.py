"""The Ray engine: an indexing run spread over a Ray cluster with Ray Data (``pip install
'stylesim[ray]'``). It builds the index the local engine builds from the same files: the same
items, the same vectors within fp16 storage tolerance, the same search results.

    driver   walks the inputs and plans what changed (``indexing.plan``), as the local engine
             does, and cuts the files to encode into work items: IMAGE_FILES image files (2
             batches when that is more), or one video (never cut further: the scene detector
             compares every frame with the last one kept, so a sample depends on all before it)
    read     Ray tasks, in parallel: decode a work item's images (``collection.decode``) or
             sample its video (``collection.video``) at the encoder input shape
    encode   an actor pool, one model per actor (a GPU each when the cluster has them): the
             raw descriptors of a work item's pictures (batched by shape as the local engine
             batches them), written at once as one journal shard into the index folder
    reduce   the driver, once every work item is written: merge the journal (the first run fits
             the collection statistics on the raw vectors), refit, compact, commit
             (``indexing.run.finish_run``, the local engine's own last step)

Ids come from disjoint ranges. A work item's size is known only once it is read (a video's
frame count only once it is sampled), so ranges are not cut up front: a small actor started by
the driver (``IdRanges``, seeded with the index's next id) gives each shard the exact range it
needs as it is written. When the map phase ends, fails or is interrupted, the driver closes it
(no range is given out after that) and moves the index's next id past the last range.

The encoder actors write the shards themselves, so a shard is durable as soon as its work item
is encoded, wherever that happened, and the driver never carries the vectors; the price is
that the index folder must be on a filesystem every node mounts at the same path (as must the
inputs; an actor that cannot see the index folder says so). The journal's semantics are the
local engine's:

- a failed or killed job leaves the shards written so far in ``pending/``; the next run, with
  either engine, merges them first (``report.resumed``) and plans the rest, so only what was
  not written is encoded again; re-running adds only what changed (``indexing.plan``);
- a video's frames are written in one shard, so an index never holds part of a video;
- Ctrl-C on the driver stops the job and commits what was written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylesim.collection.decode import DEFAULT_MAX_PIXELS, decode_for_encoding
from stylesim.collection.video import SampleReport, Sampling, sample_video
from stylesim.collection.walk import FileEntry, Skip, WalkResult
from stylesim.descriptors.extract import DescriptorExtractor
from stylesim.encoding.batches import ShapeBatcher
from stylesim.encoding.device import cuda_tuning, default_batch_size
from stylesim.errors import DecodeError, StylesimError
from stylesim.index import journal
from stylesim.index.manifest import MANIFEST
from stylesim.index.store import IndexStore
from stylesim.index.writing import disk_full
from stylesim.indexing.plan import IndexReport, sampling_for
from stylesim.indexing.run import (
    Progress,
    conduct,
    count_video,
    frame_row,
    image_row,
    video_columns,
    video_result,
)
from stylesim.indexing.writer import host_copy

IMAGE_FILES = 32  # image files per work item (or 2 batches, if more): one journal shard each
# Memory a read task reserves: a work item's files and decoded pictures (a long video's frames
# may need more: Ray only schedules by it). Declaring it also keeps the reads in tasks of their
# own: Ray Data fuses a map into the next one when their resources match, and reads fused into
# the encoder actors would decode and encode in turn instead of at the same time.
READ_MEMORY = 512 * 2**20
PROBE_SECONDS = 5.0
MISSING_RAY = "--engine ray needs the ray extra: pip install 'stylesim[ray]'"

Factory = Callable[[], DescriptorExtractor]  # builds the extractor in an actor, on its device


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: $RAY_ADDRESS, else a Ray instance started on this machine
    gpus_per_worker: float | None = None  # None: 1 when the cluster has GPUs, else 0
    workers: int | None = None  # encoder actors; None: one per GPU share, else one per node
    batch_size: int | None = None  # pictures per forward pass; None: by the actors' device


@dataclass(frozen=True)
class Job:
    """What the tasks and actors of one run are given."""

    root: str  # the index folder, absolute
    size: int
    max_pixels: int
    sampling: Sampling | None  # None: each video as it was indexed (``plan.sampling_for``)


def import_ray() -> Any:
    """The ray module, or our one-line error when the extra is not installed."""
    try:
        import ray
    except ImportError:
        raise StylesimError(MISSING_RAY) from None
    return ray


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def unreachable(address: str, reason: str) -> StylesimError:
    return StylesimError(
        f"--address {address}: cannot reach a Ray cluster there ({reason}); start one with "
        "`ray start --head` and give its address, or auto on one of its nodes"
    )


def probe(address: str | None) -> None:
    """Fail at once, in one line, when ``address`` (HOST:PORT or ray://HOST:PORT) does not
    answer: Ray itself keeps retrying for minutes."""
    if not address or address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise StylesimError(f"--address {address}: give auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=PROBE_SECONDS).close()
    except OSError as err:
        raise unreachable(address, (err.strerror or str(err) or "no answer").lower()) from None


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[Any]:
    """Ray, connected to ``address`` (None: $RAY_ADDRESS, else a new instance on this machine);
    an instance this process already joined is used as it is. Disconnects from what it joined."""
    ray = import_ray()
    probe(address)
    if ray.is_initialized():
        yield ray
        return
    try:
        ray.init(address=address, log_to_driver=True, logging_level="WARNING")
    except Exception as err:  # noqa: BLE001 - ray raises ConnectionError, RuntimeError, ValueError ...
        raise unreachable(address or os.environ.get("RAY_ADDRESS") or "(local)", first_line(err)) from None
    try:
        yield ray
    finally:
        ray.shutdown()


def index_on_ray(
    store: IndexStore,
    factory: Factory,
    walk: WalkResult,
    size: int,
    options: RayOptions,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_plan: Progress | None = None,
    on_progress: Progress | None = None,
    sampling: Sampling | None = None,
) -> IndexReport:
    """Bring ``store`` up to date with ``walk`` on a Ray cluster and commit (module docstring);
    ``factory`` builds the extractor in each encoder actor."""
    job = Job(str(store.root.resolve()), size, max_pixels, sampling)
    progress = on_progress or (lambda _: None)
    with ray_session(options.address) as ray:

        def encode(todo: list[FileEntry], report: IndexReport) -> list[Skip]:
            return encode_on_ray(ray, store, factory, todo, job, options, progress, report)

        return conduct(store, walk, sampling, on_plan, encode)
    raise AssertionError("unreachable")  # the with block returns


# ------------------------------------------------------------------------------ the driver
def work_items(todo: list[FileEntry], per_item: int = IMAGE_FILES) -> list[dict[str, str]]:
    """Ray Data rows, one per work item: each video alone (largest first, so that the longest
    items start early), then the images ``per_item`` files at a time."""
    videos = sorted((f for f in todo if f.kind == "video"), key=lambda f: -f.size)
    images = [f for f in todo if f.kind != "video"]
    chunks = [[v] for v in videos] + [images[i : i + per_item] for i in range(0, len(images), per_item)]
    return [{"files": json.dumps([dataclasses.astuple(f) for f in chunk])} for chunk in chunks]


def entries(text: str) -> list[FileEntry]:
    return [FileEntry(*fields) for fields in json.loads(text)]


def encoder_plan(ray: Any, options: RayOptions) -> tuple[int, float, int]:
    """(encoder actors, GPUs each, torch threads each) for the cluster Ray sees: a GPU share per
    actor and one actor per share when the cluster has GPUs, else one actor per node using
    that node's cores (as the local engine uses this machine's)."""
    resources = ray.cluster_resources()
    gpus_there, cpus = float(resources.get("GPU", 0)), float(resources.get("CPU", 1))
    gpus = options.gpus_per_worker
    if gpus is None:
        gpus = 1.0 if gpus_there else 0.0
    if gpus > gpus_there:
        raise StylesimError(f"--num-gpus-per-worker {gpus:g}: the Ray cluster has {gpus_there:g} GPUs")
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    actors = options.workers or (int(gpus_there // gpus) if gpus else max(1, nodes))
    return actors, gpus, max(1, int(cpus // actors))


def encode_on_ray(
    ray: Any, store: IndexStore, factory: Factory, todo: list[FileEntry], job: Job,
    options: RayOptions, on_progress: Progress, report: IndexReport,
) -> list[Skip]:  # fmt: skip
    """Read, encode and journal ``todo`` on the cluster; returns the files that could not be
    indexed. The index's next id ends past every id given out."""
    if not todo:
        return []
    ranges = ray.remote(num_cpus=0)(IdRanges).remote(int(store.state["next_id"]))
    try:
        rows = dataset(ray, factory, todo, job, options, ranges).iter_rows()
        return collect(rows, report, on_progress)
    except Exception as err:  # noqa: BLE001 - put in one line (job_error) or re-raised as it is
        raise job_error(ray, err, store.root) from None
    finally:
        end = int(ray.get(ranges.close.remote()))
        store.allocate_ids(max(0, end - int(store.state["next_id"])))


def dataset(
    ray: Any, factory: Factory, todo: list[FileEntry], job: Job, options: RayOptions, ranges: Any
) -> Any:
    """The Ray Data pipeline: work items -> read tasks -> encoder actor pool -> outcomes."""
    actors, gpus, threads = encoder_plan(ray, options)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the CLI shows its own progress
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # its plan and timings: not ours to show
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled"
    batch_size = options.batch_size or default_batch_size(torch.device("cuda" if gpus else "cpu"))
    items = work_items(todo, max(IMAGE_FILES, 2 * batch_size))
    read = ray.data.from_items(items, override_num_blocks=len(items)).map(
        read_item, fn_kwargs={"job": job}, num_cpus=1, memory=READ_MEMORY
    )
    return read.map_batches(
        Encoder,
        fn_constructor_kwargs={
            "factory": factory, "root": job.root, "ranges": ranges, "batch_size": batch_size,
            "threads": 0 if gpus else threads,
        },
        batch_size=1, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors),
        num_gpus=gpus, num_cpus=1,
    )  # fmt: skip


def collect(rows: Iterable[dict[str, Any]], report: IndexReport, on_progress: Progress) -> list[Skip]:
    """Read the encoders' outcomes as they come: skips, videos (into ``report``), progress."""
    skips: list[Skip] = []
    for row in rows:
        outcome = json.loads(row["outcome"])
        images = [Skip(*fields) for fields in outcome["skips"]]
        skips += images
        done = outcome["images"] + len(images)
        if video := outcome["video"]:
            entry = FileEntry(*video["entry"])
            skips += count_video(
                report, video_result(entry, video["frames"], video["skip"], video["problem"])
            )
            done += 1
        on_progress(done)
    return skips


def job_error(ray: Any, error: Exception, root: Path) -> Exception:
    """What a failed job is reported as: our own error from a task or actor in its one line, a
    full disk under the index ``root`` and a dead actor in ours; anything else as it is."""
    seen: BaseException | None = error
    for _ in range(8):  # Ray Data wraps a task's exception once or twice
        if seen is None:
            break
        cause = getattr(seen, "cause", None)
        if isinstance(seen, StylesimError) and not isinstance(cause, BaseException):
            return StylesimError(str(seen))
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:  # an actor journalling
            return disk_full(root, seen)
        if isinstance(seen, ray.exceptions.RayActorError):
            return StylesimError(
                f"a Ray encoder actor died ({first_line(seen)}); what was written is kept: run the "
                "same command again to continue"
            )
        seen = cause if isinstance(cause, BaseException) else (seen.__cause__ or seen.__context__)
    return error


class IdRanges:
    """A Ray actor: disjoint id ranges, in order, from ``start`` until closed."""

    def __init__(self, start: int) -> None:
        self.next: int | None = start
        self.end = start

    def take(self, n: int) -> int:
        """The first of ``n`` fresh ids."""
        if self.next is None:
            raise StylesimError("the indexing run has ended: no more ids are given out")
        first, self.next = self.next, self.next + n
        self.end = self.next
        return first

    def close(self) -> int:
        """Stop giving out ids; returns the id after the last one given out."""
        self.next = None
        return self.end


# ------------------------------------------------------------------------------ read tasks
def read_item(row: dict[str, Any], job: Job) -> dict[str, Any]:
    """A work item's pictures at the encoder input shape, flattened into one uint8 array, and
    what the encoder needs to know about them (shapes, metadata rows, skips, the video's
    outcome) as JSON."""
    files = entries(row["files"])
    check_visible(files[0].path)
    if files[0].kind == "video":
        pictures, meta = read_video(files[0], job)
    else:
        pictures, meta = read_images(files, job)
    flat = np.concatenate([p.reshape(-1) for p in pictures]) if pictures else np.zeros(0, np.uint8)
    meta["shapes"] = [list(p.shape) for p in pictures]
    return {"pixels": flat, "meta": json.dumps(meta)}


def check_visible(path: str) -> None:
    """A read task's node must see the inputs where the driver saw them."""
    if not os.path.isdir(os.path.dirname(path)):
        raise StylesimError(
            f"{os.path.dirname(path)}: not found on Ray node {socket.gethostname()}; with --engine ray "
            "the inputs must be on a filesystem every node mounts at the same path"
        )


def read_images(files: list[FileEntry], job: Job) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Decode image files (those that cannot be decoded become skips)."""
    pictures, rows, skips = [], [], []
    for entry in files:
        try:
            image = decode_for_encoding(entry.path, job.size, job.max_pixels)
        except DecodeError as err:
            skips.append([entry.path, err.reason, entry.size, entry.mtime_ns])
            continue
        pictures.append(image.pixels)
        rows.append(image_row(entry, image.sha256, image.width, image.height))
    return pictures, {"rows": rows, "skips": skips, "video": None}


def read_video(entry: FileEntry, job: Job) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Sample a video; its frames are dropped when it is skipped (nothing decodable)."""
    report, pictures, rows, skip = SampleReport(), [], [], None
    sampling = sampling_for(entry, job.sampling)
    spec = sampling.spec()
    try:
        for frame in sample_video(entry.path, sampling, job.size, report):
            pictures.append(frame.pixels)
            rows.append(frame_row(entry, frame.time, frame.index, spec))
    except DecodeError as err:
        pictures, rows, skip = [], [], err.reason
    if rows:
        extra = video_columns(report)
        rows = [{**r, **extra} for r in rows]
    video = {
        "entry": dataclasses.astuple(entry),
        "frames": len(rows),
        "skip": skip,
        "problem": report.problem,
    }
    return pictures, {"rows": rows, "skips": [], "video": video}


# ------------------------------------------------------------------------------ encoder actors
class Encoder:
    """A Ray Data callable class (one actor each): one model, built on the actor's device; each
    call encodes one work item and writes its raw vectors as one journal shard."""

    def __init__(self, factory: Factory, root: str, ranges: Any, batch_size: int, threads: int) -> None:
        if not (Path(root) / MANIFEST).is_file():
            raise StylesimError(
                f"{root}: the index folder is not visible on Ray node {socket.gethostname()}; with "
                "--engine ray it must be on a filesystem every node mounts at the same path"
            )
        if threads:
            torch.set_num_threads(threads)
        self.extractor = factory()
        self.root, self.ranges = Path(root), ranges
        self.batch_size = batch_size
        self.tuning = contextlib.ExitStack()  # held for the actor's life
        self.tuning.enter_context(cuda_tuning(self.extractor.device))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outcomes = [self.write(p, m) for p, m in zip(batch["pixels"], batch["meta"], strict=True)]
        return {"outcome": np.array(outcomes, dtype=object)}

    def write(self, flat: np.ndarray, meta_text: str) -> str:
        """Encode and journal one work item; returns its outcome (JSON) for the driver."""
        import ray

        meta = json.loads(str(meta_text))
        rows = meta["rows"]
        if rows:
            vectors = self.vectors(split_pictures(np.asarray(flat, np.uint8), meta["shapes"]))
            start = int(ray.get(self.ranges.take.remote(len(rows))))
            ids = np.arange(start, start + len(rows), dtype=np.int64)
            journal.write_shard(self.root, ids, self.extractor.split(vectors), rows)
        images = 0 if meta["video"] else len(rows)
        return json.dumps({"images": images, "skips": meta["skips"], "video": meta["video"]})

    def vectors(self, pictures: list[np.ndarray]) -> np.ndarray:
        """(N, D) float32 descriptors of ``pictures``, in their order, batched by shape."""
        out = np.empty((len(pictures), self.extractor.dim), np.float32)
        batcher: ShapeBatcher[int] = ShapeBatcher(self.batch_size)
        batches = [b for i, p in enumerate(pictures) if (b := batcher.add(i, p.shape))]
        for positions in batches + batcher.drain():
            pixels = torch.from_numpy(np.stack([pictures[i] for i in positions]))
            out[positions] = host_copy(self.extractor.encode(self.extractor.to_device(pixels)))
        return out


def split_pictures(flat: np.ndarray, shapes: list[list[int]]) -> list[np.ndarray]:
    """``read_item``'s flattened pictures, back in their shapes."""
    pictures, start = [], 0
    for shape in shapes:
        count = int(np.prod(shape))
        pictures.append(flat[start : start + count].reshape(shape))
        start += count
    return pictures
