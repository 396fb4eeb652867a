"""``stylesim search``, ``info`` and ``frame``: query an index and look at what it holds."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stylesim.cli.app import EXIT_ERROR, app, at_least, choice, err, reports_errors
from stylesim.cli.options import (
    FORMATS,
    PRECISIONS,
    SEARCH_MODES,
    Collection,
    Device,
    IndexDir,
    Json,
    Precision,
    Qdrant,
)
from stylesim.errors import UsageError

if TYPE_CHECKING:
    from stylesim.api import SearchBackend

BY_HELP = (
    "style: the look (gram, adain and colour fused, colour counting more where two palettes all but "
    "coincide; the same picture in other looks discounted; expanded by the query's best neighbours); "
    "style-relative: each item's look against the other versions of its picture in the index; "
    "content: what the picture shows; gram, adain or colour: one descriptor."
)


@app.command()
@reports_errors
def search(
    queries: Annotated[
        list[str] | None, typer.Argument(help="Query images, or video frames as VIDEO@TIME.")
    ] = None,
    by: Annotated[str, typer.Option("--by", "-b", help=BY_HELP)] = "style",
    k: Annotated[
        int, typer.Option("-k", "--top", help="Results per query (all when larger than the index).")
    ] = 10,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json, csv or paths.")] = "table",
    style_of: Annotated[
        str | None, typer.Option(help="With --content-of: items in the style of this image...")
    ] = None,
    content_of: Annotated[str | None, typer.Option(help="...that show what this image shows.")] = None,
    mix: Annotated[float, typer.Option(help="With --style-of: weight of style, 1 - MIX for content.")] = 0.5,
    group_by: Annotated[str | None, typer.Option(help="video: rank videos by their best frames.")] = None,
    moments: Annotated[int, typer.Option(help="With --group-by video: moments shown per video.")] = 3,
    include_query: Annotated[
        bool, typer.Option(help="Keep the query itself and exact copies of it.")
    ] = False,
    index_dir: IndexDir = None,
    device: Device = "auto",
    precision: Precision = "auto",
    qdrant: Qdrant = None,
    collection: Collection = None,
) -> None:
    """Print the K nearest indexed images (or video frames, or videos) of each query, best first;
    or, with --style-of A --content-of B, the items in the style of A that show what B shows.
    Scores are cosine similarities in [-1, 1]: 1 is the same look (or content), 0 unrelated.
    With --qdrant and --collection, searches an exported Qdrant collection instead of the index."""
    from stylesim import api
    from stylesim.output import render

    check_search_options(by, fmt, group_by, k, moments, mix)
    precision = choice(precision, PRECISIONS, "--precision")
    with search_backend(qdrant, collection) as backend:
        if style_of or content_of:
            if not (style_of and content_of) or queries:
                raise UsageError("--style-of and --content-of go together, without other query images")
            results = api.search_style_and_content(
                style_of, content_of, index_dir, k=k, mix=mix, device=device, backend=backend,
                precision=precision,
            )  # fmt: skip
        elif not queries:
            raise UsageError("give query images, or --style-of A --content-of B")
        else:
            results = api.search(
                queries, index_dir, by=by, k=k, device=device, group_by=group_by, moments=moments,
                include_query=include_query, precision=precision,
                backend=backend,
            )  # fmt: skip
    sys.stdout.write(render([r for r in results if "error" not in r], fmt))
    failed = [r for r in results if "error" in r]
    for result in failed:
        err.print(f"stylesim: error: {result['error']}", markup=False)
    if failed:
        raise typer.Exit(EXIT_ERROR)


def check_search_options(by: str, fmt: str, group_by: str | None, k: int, moments: int, mix: float) -> None:
    """UsageError naming the first ``search`` option whose value is not allowed."""
    choice(by, SEARCH_MODES, "--by")
    choice(fmt, FORMATS, "--format")
    if group_by is not None:
        choice(group_by, ("video",), "--group-by")
    at_least(k, 1, "-k")
    at_least(moments, 1, "--moments")
    at_least(mix, 0.0, "--mix", 1.0)


@contextmanager
def search_backend(qdrant: str | None, collection: str | None) -> Iterator[SearchBackend | None]:
    """The exported Qdrant collection that --qdrant and --collection name, open while the search
    runs; None (the index folder) without them."""
    if qdrant is None and collection is None:
        yield None
        return
    if not (qdrant and collection):
        raise UsageError("--qdrant and --collection go together")
    from stylesim import api

    with api.open_qdrant(qdrant, collection) as backend:
        yield backend


@app.command()
@reports_errors
def info(index_dir: IndexDir = None, as_json: Json = False) -> None:
    """Describe an index: settings, counts, storage per item, search settings, skipped files."""
    from stylesim import api

    facts = api.index_info(index_dir)
    sys.stdout.write(json.dumps(facts, indent=2) + "\n" if as_json else info_text(facts))


def segment_lines(facts: dict[str, Any]) -> list[str]:
    """The segments, and each approximate index with its measured recall."""
    memory = f", memory {facts['memory'] / 2**30:.1f} GiB" if facts.get("memory") else ""
    lines = [f"segments     {len(facts['segments'])} (index type {facts['index_type']}{memory})"]
    for segment in facts["segments"]:
        spaces = segment["approximate"]
        search = (
            "; ".join(
                f"{space} {a['factory']} {a['param']}={a['value']} recall@10 {a['recall']:.3f}"
                for space, a in spaces.items()
            )
            if spaces
            else "exact search"
        )
        lines.append(f"  {segment['name']}  {segment['live']}/{segment['items']} live  {search}")
    return lines


def info_text(facts: dict[str, Any]) -> str:
    weights = facts["weights"]
    lines = [
        f"index        {facts['index']}",
        f"model        {facts['model']} ({weights['source']} weights, sha256 {weights['sha256'][:12]}), "
        f"input ~{facts['image_size']}^2 px",
        f"items        {facts['items']} ({facts['images']} images, "
        f"{facts['frames']} frames of {facts['videos']} videos)",
        f"on disk      {facts['disk_bytes'] / 1e6:.2f} MB",
        "descriptors",
    ]
    for name, d in facts["descriptors"].items():
        layers = ",".join(d.get("layers", [])) or "pixels"
        lines.append(
            f"  {name:<8} {d['dim']:>5} dims  fp16  {d['bytes_per_item']:>5} B/item  layers {layers}"
        )
    weights_text = ", ".join(f"{n} {w:.2f}" for n, w in facts["search_modes"]["style"].items())
    lines.append(f"--by style   {weights_text}")
    lines += segment_lines(facts)
    lines.append(f"skipped      {len(facts['skipped'])}")
    lines += [f"  {s['path']}: {s['reason']}" for s in facts["skipped"]]
    return "\n".join(lines) + "\n"


@app.command()
@reports_errors
def frame(
    reference: Annotated[
        str, typer.Argument(help="VIDEO@TIME, as results print it (e.g. talk.mp4@00:01:05.250).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Image file to write (.png, .jpg ...).")],
) -> None:
    """Write the full-resolution picture shown at TIME in VIDEO."""
    from stylesim.collection.timecode import format_time, split_frame_reference
    from stylesim.collection.video import extract_frame
    from stylesim.errors import StylesimError

    parsed = split_frame_reference(reference)
    if parsed is None:
        raise UsageError(f"{reference!r}: write the frame as VIDEO@TIME, e.g. talk.mp4@00:01:05")
    video, seconds = parsed
    if not Path(video).is_file():
        raise StylesimError(f"{video}: video not found")
    image, exact, number = extract_frame(video, seconds)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        image.save(out)
    except (OSError, ValueError) as error:
        raise StylesimError(f"{out}: cannot write the image ({error})") from None
    frame_number = f"frame {number}, " if number is not None else ""
    err.print(f"{video}@{format_time(exact)} ({frame_number}{image.width}x{image.height})")
    sys.stdout.write(f"{out}\n")
