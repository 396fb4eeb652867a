"""``stylesim restyle`` (render pictures in given or retrieved styles) and ``stylesim
train-decoder`` (train the AdaIN decoder on this machine)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stylesim.cli.app import app, at_least, choice, err, reports_errors
from stylesim.cli.options import PRECISIONS, Device, IndexDir, Precision, Quiet
from stylesim.cli.progress import Reporter
from stylesim.cli.signals import stopped_by_signals
from stylesim.errors import UsageError
from stylesim.transfer import defaults as gatys_defaults  # shown in --help without importing torch

if TYPE_CHECKING:
    from stylesim.transfer.gatys import GatysSettings
    from stylesim.transfer.restyle import RestyleOutput, RestyleSettings, StyleRef

MEASURES = (
    "style distance / content's: how far the result's Gram statistics are from the style's, divided by "
    "how far the content's were (lower = more stylised; 1 = no change). structure: correlation of the "
    "blurred greyscale result with the content's (1 = same layout)."
)
Opt = typer.Option


@app.command()
@reports_errors
def restyle(
    contents: Annotated[list[str], typer.Argument(help="Content images (or VIDEO@TIME frames).")],
    style: Annotated[
        list[str] | None, Opt("--style", "-s", help="A style image; repeat to blend several.")
    ] = None,
    style_weights: Annotated[str | None, Opt(help="Blend weights, one per --style, e.g. 0.7,0.3.")] = None,
    style_like: Annotated[
        str | None, Opt(help="Use the --top images of --index that look most like this one.")
    ] = None,
    top: Annotated[int, Opt(help="With --style-like: how many retrieved styles.")] = 3,
    index_dir: IndexDir = None,
    method: Annotated[
        str, Opt("--method", "-m", help="auto (adain if a decoder is installed, else gatys), gatys, adain.")
    ] = "auto",
    size: Annotated[int, Opt(help="Long side of the result in pixels.")] = 512,
    out: Annotated[Path, Opt("--out", "-o", help="Folder for the results and index.html.")] = Path("out"),
    steps: Annotated[int, Opt(help="Gatys: optimisation steps per pyramid level.")] = 300,
    optimiser: Annotated[str, Opt(help="Gatys: lbfgs or adam.")] = "lbfgs",
    lr: Annotated[
        float | None, Opt(help="Gatys: learning rate (default 1 for lbfgs, 0.01 for adam).")
    ] = None,
    content_weight: Annotated[float, Opt(help="Gatys: content loss weight.")] = gatys_defaults.CONTENT_WEIGHT,
    style_weight: Annotated[float, Opt(help="Gatys: style loss weight.")] = gatys_defaults.STYLE_WEIGHT,
    tv_weight: Annotated[float, Opt(help="Gatys: total-variation weight.")] = gatys_defaults.TV_WEIGHT,
    content_layer: Annotated[str, Opt(help="Gatys: content layer.")] = "relu4_2",
    style_layers: Annotated[
        str, Opt(help="Gatys: style layers.")
    ] = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
    init: Annotated[str, Opt(help="Gatys: start from content, noise or an image file.")] = "content",
    seed: Annotated[int, Opt(help="Seed of the noise start (same seed, same result).")] = 0,
    deterministic: Annotated[bool, Opt(help="Only deterministic kernels (GPU).")] = False,
    precision: Precision = "auto",
    line_search: Annotated[bool, Opt(help="Gatys: L-BFGS with a strong-Wolfe line search (slower).")] = False,
    style_scale: Annotated[float, Opt(help="Style image size relative to the result's.")] = 1.0,
    pyramid: Annotated[str | None, Opt(help="Gatys: coarse-to-fine sizes, e.g. 256,512.")] = None,
    preserve_color: Annotated[bool, Opt(help="Keep the content's colours.")] = False,
    preserve_method: Annotated[str, Opt(help="luminance or stats.")] = "luminance",
    alpha: Annotated[float, Opt(help="AdaIN: 0 = content, 1 = full style.")] = 1.0,
    mask: Annotated[str | None, Opt(help="AdaIN, two styles: the first where the mask is white.")] = None,
    decoder: Annotated[str | None, Opt(help="AdaIN decoder file (default: the installed one).")] = None,
    device: Device = "auto",
    quiet: Quiet = False,
) -> None:
    """Render CONTENTS in the style of --style images, or of the images an index finds with
    --style-like; writes one PNG per content and style, and OUT/index.html to look at them."""
    check_restyle_options(style, style_like, method, alpha, top)
    from stylesim.transfer.restyle import RestyleSettings

    if deterministic:
        _use_deterministic_kernels()
    options = {k: v for k, v in locals().items() if k in GATYS_OPTIONS}
    gatys = gatys_settings(preserve=preserve_method if preserve_color else None, **options)
    settings = said_method(RestyleSettings(method, out, gatys, alpha, mask, decoder, device), quiet)
    sets = style_sets(contents, style or [], style_like, index_dir, top, device)
    weights = parse_weights(style_weights) if style_weights and not style_like else None
    outputs, sheet = run_restyle(contents, sets, weights, settings, quiet)
    report_restyle(outputs, sheet)


def check_restyle_options(
    style: list[str] | None, style_like: str | None, method: str, alpha: float, top: int
) -> None:
    if bool(style) == bool(style_like):
        raise UsageError("give either --style IMAGE (repeatable) or --style-like QUERY (with --index)")
    choice(method, ("auto", "gatys", "adain"), "--method")
    at_least(alpha, 0.0, "--alpha", 1.0)
    at_least(top, 1, "--top")


def said_method(settings: RestyleSettings, quiet: bool) -> RestyleSettings:
    """``settings`` with --method auto resolved (``transfer.restyle.method_resolved``), said on stderr."""
    from stylesim.transfer.adain import missing_decoder_message
    from stylesim.transfer.restyle import method_resolved

    resolved = method_resolved(settings)
    if settings.method == "auto" and not quiet:
        why = "adain when a decoder is given or installed"
        if resolved.method == "gatys":  # say why, so that an incomplete install does not pass unseen
            why = missing_decoder_message(settings.decoder)
        err.print(f"method: {resolved.method} (--method auto: {why})")
    return resolved


def style_sets(
    contents: list[str],
    styles: list[str],
    style_like: str | None,
    index_dir: Path | None,
    top: int,
    device: str,
) -> list[list[StyleRef]]:
    """One set of the given styles (blended), or one set per retrieved style."""
    from stylesim import api
    from stylesim.transfer.restyle import style_ref

    if not style_like:
        return [[style_ref(s) for s in styles]]
    refs = api.styles_like(style_like, index_dir, top, contents, device)
    err.print("".join(f"style: {ref.spec} (score {ref.score:.3f})\n" for ref in refs), end="")
    return [[ref] for ref in refs]


GATYS_OPTIONS = frozenset(
    {
        "content_layer", "style_layers", "content_weight", "style_weight", "tv_weight", "optimiser", "steps",
        "lr", "init", "seed", "size", "pyramid", "style_scale", "precision", "line_search",
    }
)  # fmt: skip


def gatys_settings(
    content_layer: str, style_layers: str, content_weight: float, style_weight: float, tv_weight: float,
    optimiser: str, steps: int, lr: float | None, init: str, seed: int, size: int, pyramid: str | None,
    style_scale: float, preserve: str | None, precision: str = "auto", line_search: bool = False,
) -> GatysSettings:  # fmt: skip
    choice(optimiser, ("lbfgs", "adam"), "--optimiser")
    choice(precision, PRECISIONS, "--precision")
    if preserve is not None:
        choice(preserve, ("luminance", "stats"), "--preserve-method")
    from stylesim.transfer.gatys import GatysSettings
    from stylesim.transfer.pyramid import parse_pyramid

    at_least(steps, 1, "--steps")
    sizes = parse_pyramid(pyramid) if pyramid else ()
    return GatysSettings(
        content_layer=content_layer, style_layers=comma_list(style_layers), content_weight=content_weight,
        style_weight=style_weight, tv_weight=tv_weight, optimiser=optimiser, steps=steps, learning_rate=lr,
        init=init, seed=seed, size=sizes[-1] if sizes else size, pyramid=sizes, style_scale=style_scale,
        preserve_colour=preserve, precision=precision, line_search=line_search,
    )  # fmt: skip


def comma_list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def parse_weights(text: str) -> list[float]:
    try:
        return [float(x) for x in comma_list(text)]
    except ValueError:
        raise UsageError(
            f"--style-weights {text!r}: give numbers separated by commas, e.g. 0.7,0.3"
        ) from None


def _use_deterministic_kernels() -> None:
    import os

    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # required by deterministic cuBLAS
    torch.use_deterministic_algorithms(True)


def run_restyle(
    contents: list[str],
    sets: list[list[StyleRef]],
    weights: list[float] | None,
    settings: RestyleSettings,
    quiet: bool,
) -> tuple[list[RestyleOutput], Path]:
    """``api.restyle`` with one progress count per job (its own steps)."""
    from stylesim import api

    steps = settings.gatys.steps * len(settings.gatys.sizes) if settings.method == "gatys" else 1
    with Reporter(err, quiet) as progress:

        def on_job(job: int, total: int, name: str) -> None:
            progress.start(f"[{job}/{total}] {name}", steps)

        def on_step(level: int, step: int, losses: dict[str, float]) -> None:
            progress.advance(1, f"loss {losses['total']:.4g}")

        return api.restyle(contents, sets, weights, settings, on_job, on_step)


def report_restyle(outputs: list[RestyleOutput], sheet: Path) -> None:
    for o in outputs:
        ratios = ", ".join(f"{r:.2f}" for r in o.style_ratio.values())
        err.print(
            f"{o.path.name}: {o.seconds:.1f} s, style distance / content's {ratios}, "
            f"structure {o.structure:.3f}"
        )
    err.print(MEASURES)
    err.print(f"contact sheet: {sheet}")
    sys.stdout.write("".join(f"{o.path}\n" for o in outputs))


ContentLoss = Annotated[
    str,
    Opt(
        help="Content loss: 'target' (the paper's eq. 12), 'normalised' (each relu4_1 channel "
        "against its own spread, SANet's: keeps the layout under flat styles), 'layout' "
        "(normalised, plus relu3_1 against the content's: keeps its tones under a plain canvas) "
        "or 'layout-fine' (layout, plus relu2_1: its tones region by region)."
    ),
]


LayoutWeight = Annotated[
    float, Opt(help="Weight of the layout content losses' terms below relu4_1 (relu3_1, relu2_1).")
]
MovingAverage = Annotated[
    float | None,
    Opt(
        help="Export the moving average of the weights with this decay per step (e.g. 0.999; "
        "0: the last step's weights). Default: as the run continued had it (0 for a new run)."
    ),
]


def _losses_shown_in(progress: Reporter) -> Callable[[int, dict[str, float]], None]:
    """A training step callback that moves ``progress`` to the step and shows its losses."""

    def on_step(iteration: int, losses: dict[str, float]) -> None:
        progress.done = iteration - 1
        progress.advance(
            1, f"loss {losses['total']:.4g} (content {losses['content']:.3g}, style {losses['style']:.3g})"
        )

    return on_step


@app.command("train-decoder")
@reports_errors
def train_decoder(
    content: Annotated[Path, Opt(help="Folder of content photos (scripts/adain_data.py makes one).")],
    style: Annotated[Path, Opt(help="Folder of style images (paintings, illustrations, patterns).")],
    work: Annotated[Path, Opt(help="Checkpoints, the exported decoder and the training record.")] = Path(
        "out/adain-training"
    ),
    iterations: Annotated[int, Opt(help="Total steps (a resumed run may raise it).")] = 20_000,
    crop: Annotated[int, Opt(help="Training crop size in pixels (a continued run may change it).")] = 128,
    batch: Annotated[int, Opt(help="Content/style pairs per step.")] = 8,
    lr: Annotated[float, Opt(help="Adam learning rate, decayed as lr / (1 + 5e-5 i).")] = 1e-4,
    style_weight: Annotated[float, Opt(help="lambda of the style loss (the paper's 10).")] = 10.0,
    reconstruction: Annotated[
        int, Opt(help="First steps with AdaIN off (the decoder inverts the encoder).")
    ] = 0,
    clip_factor: Annotated[
        float, Opt(help="Clip the gradient norm at this times its running mean (0: no clipping).")
    ] = 5.0,
    content_loss: ContentLoss = "target",
    layout_weight: LayoutWeight = 1.0,
    ema: MovingAverage = None,
    seed: Annotated[int, Opt(help="Seed of the crops and of the initial weights.")] = 0,
    precision: Precision = "auto",
    checkpoint_minutes: Annotated[float, Opt(help="Minutes between checkpoints.")] = 5.0,
    resume: Annotated[bool, Opt(help="Continue the run checkpointed in --work exactly.")] = False,
    continue_from: Annotated[
        Path | None,
        Opt(
            help="Folder with an exported decoder and its training record (e.g. training/adain) to "
            "continue from when --work holds no checkpoint (Adam's moments start again; the "
            "precision, --content-loss, --layout-weight and --crop may differ: a new leg)."
        ),
    ] = None,
    device: Device = "auto",
    quiet: Quiet = False,
) -> None:
    """Train the AdaIN decoder (Huang & Belongie 2017) on this machine, resumably; the decoder is
    exported as WORK/adain_decoder.pt (float16, with its sidecar) at every checkpoint."""
    from stylesim import api

    choice(precision, PRECISIONS, "--precision")
    choice(content_loss, gatys_defaults.CONTENT_LOSSES, "--content-loss")
    for value, option in ((iterations, "--iterations"), (batch, "--batch"), (crop, "--crop")):
        at_least(value, 32 if option == "--crop" else 1, option)
    settings = api.training_settings(
        device, precision, iterations=iterations, crop=crop, batch=batch, learning_rate=lr,
        style_weight=style_weight, reconstruction_iterations=reconstruction, seed=seed,
        clip_factor=clip_factor, checkpoint_seconds=checkpoint_minutes * 60, content_loss=content_loss,
        layout_weight=layout_weight, ema_decay=api.recorded_ema(work, continue_from) if ema is None else ema,
    )  # fmt: skip
    with Reporter(err, quiet) as progress, stopped_by_signals():
        progress.start("training", iterations)
        started = time.monotonic()

        on_step = _losses_shown_in(progress)
        exported = api.train_decoder(
            content, style, work, settings, resume, device, on_step, continue_from=continue_from
        )
    err.print(f"trained for {(time.monotonic() - started) / 60:.1f} min this run; decoder: {exported}")
    sys.stdout.write(f"{exported}\n")
