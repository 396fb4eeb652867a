"""``stylesim index``: add new and changed files to an index, drop deleted ones."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stylesim.cli.app import EXIT_INTERRUPTED, EXIT_SKIPPED, app, at_least, choice, err, reports_errors
from stylesim.cli.options import (
    ENGINES,
    PRECISIONS,
    Device,
    Engine,
    GpusPerWorker,
    IndexDir,
    IndexType,
    IndexWorkers,
    Memory,
    NewSize,
    NewWeights,
    Precision,
    Quiet,
    RayAddress,
    SampleEvery,
    SampleKeyframes,
    SampleMaxGap,
    SampleScenes,
)
from stylesim.cli.progress import Reporter, show_index_steps
from stylesim.cli.signals import stopped_by_signals
from stylesim.errors import UsageError

if TYPE_CHECKING:
    from stylesim.collection.video import Sampling
    from stylesim.indexing import IndexReport


def plural(count: int, noun: str) -> str:
    """``1 frame``, ``2 frames``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def summary(root: Path, report: IndexReport) -> str:
    """The one line an indexing run ends with."""
    videos = (
        f" ({plural(report.frames, 'frame')} of {plural(report.videos, 'video')})" if report.videos else ""
    )
    resumed = f", {report.resumed} recovered from an interrupted run" if report.resumed else ""
    return (
        f"{root}: {report.added} added{videos}{resumed}, {plural(report.unchanged, 'file')} unchanged, "
        f"{report.removed} removed, {report.new_skips} newly skipped ({len(report.skipped)} in all); "
        f"{plural(report.total, 'item')} ({report.seconds:.1f} s)"
    )


def sampling_from(scenes: bool, every: str | None, keyframes: bool, max_gap: str | None) -> Sampling | None:
    """The sampling asked for, or None when no option is given: videos already indexed keep
    theirs, new ones get scene changes (``Sampling()``)."""
    from stylesim.collection.timecode import parse_seconds
    from stylesim.collection.video import MAX_GAP_SECONDS, Sampling

    if scenes + (every is not None) + keyframes > 1:
        raise UsageError("choose one of --scenes, --every and --keyframes")
    if every is not None:
        return Sampling("every", parse_seconds(every))
    if not (scenes or keyframes or max_gap is not None):
        return None
    gap = parse_seconds(max_gap) if max_gap is not None else MAX_GAP_SECONDS
    return Sampling("keyframes" if keyframes else "scenes", gap)


def check_options(
    size: int | None, precision: str, engine: str, batch_size: int | None, workers: int | None
) -> None:
    """UsageError for an option value ``index`` cannot take."""
    if size is not None:
        at_least(size, 32, "--size")
    choice(precision, PRECISIONS, "--precision")
    choice(engine, ENGINES, "--engine")
    for value, option in ((batch_size, "--batch-size"), (workers, "--workers")):
        if value is not None:
            at_least(value, 1, option)


def check_layout_options(index_type: str | None, memory: str | None) -> None:
    """UsageError for an --index-type or --memory ``index`` cannot take, before any work starts
    (faiss is needed to check a factory string; torch is not)."""
    from stylesim.api.indexes import parse_memory
    from stylesim.index.ann import check_index_type

    parse_memory(memory)
    if index_type is not None:
        check_index_type(index_type)


@app.command()
@reports_errors
def index(
    paths: Annotated[
        list[Path], typer.Argument(help="Image and video files and folders (searched recursively).")
    ],
    index_dir: IndexDir = None,
    size: NewSize = None,
    weights: NewWeights = None,
    device: Device = "auto",
    precision: Precision = "auto",
    batch_size: Annotated[
        int | None, typer.Option(help="Images per forward pass (default: by device).")
    ] = None,
    workers: IndexWorkers = None,
    scenes: SampleScenes = False,
    every: SampleEvery = None,
    keyframes: SampleKeyframes = False,
    max_gap: SampleMaxGap = None,
    index_type: IndexType = None,
    memory: Memory = None,
    engine: Engine = "local",
    address: RayAddress = None,
    num_gpus_per_worker: GpusPerWorker = None,
    quiet: Quiet = False,
) -> None:
    """Add new and changed images and videos under PATHS to the index, and drop the entries of
    files deleted from them. Videos are sampled into frames; near-duplicate frames are collapsed.
    Exit status 3 when this run met files it could not index (they are listed)."""
    from stylesim import api

    check_options(size, precision, engine, batch_size, workers)
    check_layout_options(index_type, memory)
    sampling = sampling_from(scenes, every, keyframes, max_gap)
    show_index_steps(err, quiet)
    with Reporter(err, quiet) as progress, stopped_by_signals():
        progress.start("indexing", None)
        try:
            report = api.build_index(
                list(paths), index_dir, size=size, weights=weights, device=device, batch_size=batch_size,
                workers=workers, on_plan=progress.set_total, on_progress=progress.advance, sampling=sampling,
                precision=precision, index_type=index_type, memory=memory, engine=engine, address=address,
                num_gpus_per_worker=num_gpus_per_worker,
            )  # fmt: skip
        except KeyboardInterrupt:
            progress.stop()
            err.print("interrupted: what was encoded is saved; run the same command again to continue")
            raise typer.Exit(EXIT_INTERRUPTED) from None
    for skip in report.skipped:
        err.print(f"skipped: {skip.path}: {skip.reason}")
    for damaged in report.damaged:
        err.print(f"damaged: {damaged.path}: {damaged.reason}")
    err.print(summary(api.resolve_index_dir(index_dir), report))
    if report.new_skips or report.damaged:
        raise typer.Exit(EXIT_SKIPPED)
