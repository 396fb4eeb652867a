"""Restyle content images with given or retrieved styles, write the results and an HTML contact
sheet.

    jobs = contents x style sets
      --style a.jpg --style b.jpg [--style-weights 0.7,0.3]  -> one set: a and b blended
      --style-like mood.jpg --top 3 --index DIR              -> three sets: each of the top 3
                                                                images that look like mood.jpg
                                                                (found by ``api.styles_like``)

Every result is judged with the project's encoder (``transfer.quality``) and listed in
``OUT/index.html`` with its content, styles (and their retrieval scores) and measurements.
Result names say content x style x method: ``photo__painting__gatys.png``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image

from stylesim.collection.timecode import format_time, split_frame_reference
from stylesim.encoding import VGG19Encoder, resolve_device, resolve_weights
from stylesim.encoding.layers import GATYS_STYLE_LAYERS, layer_index
from stylesim.encoding.vgg import PaddingMode
from stylesim.errors import StylesimError
from stylesim.report.contact_sheet import SheetRow, Tile, save_thumbnail, write_contact_sheet
from stylesim.transfer.adain import ADAIN_LAYER, AdaINDecoder, adain_transfer, decoder_path, load_decoder
from stylesim.transfer.gatys import GatysSettings, StepCallback, gatys_transfer
from stylesim.transfer.image import load_image
from stylesim.transfer.quality import structure_correlation, style_distance

METHODS = ("gatys", "adain")
SHEET = "index.html"


def resolve_method(method: str, decoder: str | None, adain_options: bool = False) -> str:
    """``auto``: AdaIN when a decoder is given (``--decoder``), AdaIN-only options are (alpha
    below 1, a mask), or a decoder is installed where ``adain.decoder_path`` looks; Gatys
    otherwise. A missing or damaged decoder then fails with the reason rather than falling back.
    ``gatys`` and ``adain`` as given."""
    if method != "auto":
        return method
    wants_adain = decoder is not None or adain_options or decoder_path(decoder).is_file()
    return "adain" if wants_adain else "gatys"


def method_resolved(settings: RestyleSettings) -> RestyleSettings:
    """``settings`` with ``method="auto"`` resolved (``resolve_method``)."""
    adain_options = settings.alpha < 1.0 or settings.mask is not None
    method = resolve_method(settings.method, settings.decoder, adain_options)
    return settings if method == settings.method else replace(settings, method=method)


@dataclass
class StyleRef:
    spec: str  # image path, or VIDEO@TIME for a video frame
    label: str  # short name used in file names and captions
    score: float | None = None  # retrieval score when it was found by --style-like
    image: Image.Image | None = None


@dataclass
class RestyleSettings:
    method: str = "gatys"
    out: Path = Path("out")
    gatys: GatysSettings = field(default_factory=GatysSettings)  # size, colour, style scale live here
    alpha: float = 1.0  # AdaIN content/style trade-off
    mask: str | None = None  # AdaIN: two styles, first inside the mask's white area
    decoder: str | None = None
    device: str = "auto"


@dataclass
class RestyleOutput:
    content: str
    styles: list[StyleRef]
    weights: list[float]
    path: Path
    seconds: float
    style_ratio: dict[str, float]  # per style: D(result, s) / D(content, s)
    structure: float  # correlation of blurred greyscale result and content
    size: tuple[int, int] = (0, 0)  # (width, height) of the result


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "image"


def _frame_label(video: str, seconds: float) -> str:
    return _slug(f"{Path(video).stem}@{format_time(seconds).replace(':', '-')}")


def spec_label(spec: str) -> str:
    """A short file-name-safe name for an image path or a VIDEO@TIME frame."""
    reference = None if Path(spec).exists() else split_frame_reference(spec)
    return _frame_label(*reference) if reference else _slug(Path(spec).stem)


def style_ref(spec: str) -> StyleRef:
    """A style given on the command line (a file or VIDEO@TIME)."""
    return StyleRef(spec, spec_label(spec))


def retrieved_style(hit: dict[str, Any]) -> StyleRef:
    """A style found by a search: the hit's image, or its frame as VIDEO@TIME."""
    if hit["kind"] == "frame":
        return StyleRef(
            f"{hit['video']}@{format_time(hit['time'])}",
            _frame_label(hit["video"], hit["time"]),
            hit["score"],
        )
    path = Path(hit["path"])
    label = _slug(
        f"{path.parent.name}-{path.stem}" if path.parent.name else path.stem
    )  # collections repeat names across folders
    return StyleRef(hit["path"], label, hit["score"])


def _encoder(settings: RestyleSettings, padding: PaddingMode = "zeros") -> VGG19Encoder:
    layers = set(GATYS_STYLE_LAYERS) | set(settings.gatys.encoder_layers()) | {ADAIN_LAYER}
    return VGG19Encoder(
        resolve_weights(),
        tuple(sorted(layers, key=layer_index)),
        resolve_device(settings.device),
        padding_mode=padding,
    )


def check_jobs(
    contents: Sequence[str],
    style_sets: Sequence[Sequence[StyleRef]],
    style_weights: Sequence[float] | None,
    method: str,
) -> None:
    """StylesimError for a request that cannot run, before any work."""
    if method not in METHODS:
        raise StylesimError(f"unknown --method {method!r}; use {' or '.join(METHODS)}")
    if not contents:
        raise StylesimError("give at least one content image")
    if not style_sets or not all(style_sets):
        raise StylesimError("give style images with --style, or --style-like QUERY with --index")
    for refs in style_sets:
        if style_weights is not None and len(style_weights) != len(refs):
            raise StylesimError(f"{len(refs)} styles but {len(style_weights)} --style-weights")


def prepare_models(settings: RestyleSettings) -> tuple[VGG19Encoder, AdaINDecoder | None]:
    """The encoder (with the padding the decoder was trained with) and, for AdaIN, the verified
    decoder: DecoderMissingError before any work when there is none."""
    if settings.method != "adain":
        return _encoder(settings), None
    device = resolve_device(settings.device)
    decoder, decoder_file = load_decoder(settings.decoder, resolve_weights().sha256, device)
    return _encoder(settings, "reflect" if decoder_file.padding == "reflect" else "zeros"), decoder


@dataclass
class Job:
    content: str
    content_image: Image.Image
    styles: list[StyleRef]
    weights: list[float]
    name: str  # the result's file name


def plan_jobs(
    contents: Sequence[str],
    style_sets: Sequence[Sequence[StyleRef]],
    style_weights: Sequence[float] | None,
    method: str,
) -> list[Job]:
    """Every content x style set, with the images loaded and a unique result name
    (content__style[+style]__method.png)."""
    content_images = {c: load_image(c, "content image") for c in contents}
    for ref in (r for refs in style_sets for r in refs):
        if ref.image is None:
            ref.image = load_image(ref.spec, "style image")
    jobs, used = [], set()
    for content in contents:
        for refs in style_sets:
            stem = f"{spec_label(content)}__{'+'.join(r.label for r in refs)}__{method}"
            name, n = f"{stem}.png", 2
            while name in used:
                name, n = f"{stem}-{n}.png", n + 1
            used.add(name)
            weights = list(style_weights) if style_weights is not None else [1.0] * len(refs)
            jobs.append(Job(content, content_images[content], list(refs), weights, name))
    return jobs


def render(
    job: Job,
    encoder: VGG19Encoder,
    decoder: AdaINDecoder | None,
    settings: RestyleSettings,
    mask: Image.Image | None,
    on_step: StepCallback | None,
) -> Image.Image:
    """The restyled picture of one job."""
    styles = [r.image for r in job.styles if r.image is not None]
    g = settings.gatys
    if decoder is None:
        return gatys_transfer(encoder, job.content_image, styles, job.weights, g, on_step).image
    return adain_transfer(
        encoder,
        decoder,
        job.content_image,
        styles,
        job.weights,
        g.size,
        settings.alpha,
        g.preserve_colour,
        mask,
        g.style_scale,
        g.precision,
    )


def judge(encoder: VGG19Encoder, job: Job, result: Image.Image) -> tuple[dict[str, float], float]:
    """Per style D(result, s) / D(content, s), and the structure correlation with the content."""
    ratios = {}
    for ref in job.styles:
        assert ref.image is not None
        before = style_distance(encoder, job.content_image, ref.image, max(result.size))
        ratios[ref.label] = style_distance(encoder, result, ref.image) / max(before, 1e-12)
    return ratios, structure_correlation(result, job.content_image)


def sheet_row(job: Job, output: RestyleOutput, thumbs: Path, method: str) -> SheetRow:
    """One contact-sheet row: content, styles (with score or blend weight), result, measurements."""
    tiles = []
    for ref, w in zip(job.styles, job.weights, strict=True):
        detail = f"score {ref.score:.3f}" if ref.score is not None else ""
        if len(job.styles) > 1:
            detail = f"weight {w / sum(job.weights):.2f} " + detail
        assert ref.image is not None
        tiles.append(Tile(save_thumbnail(ref.image, thumbs, f"style-{ref.label}"), ref.spec, detail.strip()))
    content_tile = Tile(
        save_thumbnail(job.content_image, thumbs, f"content-{spec_label(job.content)}"), job.content
    )
    facts = {
        "method": method,
        "size": f"{output.size[0]}x{output.size[1]}",
        "time": f"{output.seconds:.1f} s",
    }
    facts.update(
        {f"style distance / content's ({label})": f"{r:.2f}" for label, r in output.style_ratio.items()}
    )
    facts["structure correlation"] = f"{output.structure:.3f}"
    return SheetRow(content_tile, tiles, Tile(job.name, job.name), facts)


def restyle(
    contents: Sequence[str],
    style_sets: Sequence[Sequence[StyleRef]],
    style_weights: Sequence[float] | None,
    settings: RestyleSettings,
    on_job: Callable[[int, int, str], None] | None = None,
    on_step: StepCallback | None = None,
) -> tuple[list[RestyleOutput], Path]:
    """Render every content in every style set; returns the outputs and the contact sheet
    (rewritten after every job, so an interrupted run leaves a sheet of what is done)."""
    settings = method_resolved(settings)
    check_jobs(contents, style_sets, style_weights, settings.method)
    encoder, decoder = prepare_models(settings)
    jobs = plan_jobs(contents, style_sets, style_weights, settings.method)
    mask = load_image(settings.mask, "mask") if settings.mask else None
    settings.out.mkdir(parents=True, exist_ok=True)
    outputs: list[RestyleOutput] = []
    rows: list[SheetRow] = []
    sheet = settings.out / SHEET
    for number, job in enumerate(jobs, 1):
        if on_job:
            on_job(number, len(jobs), job.name)
        start = time.perf_counter()
        result = render(job, encoder, decoder, settings, mask, on_step)
        seconds = time.perf_counter() - start
        result.save(settings.out / job.name)
        ratios, structure = judge(encoder, job, result)
        output = RestyleOutput(
            job.content,
            job.styles,
            job.weights,
            settings.out / job.name,
            seconds,
            ratios,
            structure,
            result.size,
        )
        outputs.append(output)
        rows.append(sheet_row(job, output, settings.out / "thumbs", settings.method))
        sheet = write_contact_sheet(sheet, f"stylesim restyle ({settings.method})", rows, _notes(settings))
    return outputs, sheet


def _notes(settings: RestyleSettings) -> list[str]:
    g = settings.gatys
    if settings.method == "gatys":
        text = (
            f"Gatys: {g.optimiser}, {g.steps} steps per level, sizes {', '.join(map(str, g.sizes))}, "
            f"content {g.content_layer} x {g.content_weight:g}, "
            f"style {','.join(g.style_layers)} x {g.style_weight:g}, TV x {g.tv_weight:g}, "
            f"init {g.init}, seed {g.seed}"
        )
    else:
        text = f"AdaIN: alpha {settings.alpha:g}, size {g.size}"
        text += f", mask {settings.mask} (first style inside)" if settings.mask else ""
    text += f", style images at {g.style_scale:g}x the result's size" if g.style_scale != 1.0 else ""
    if g.preserve_colour:
        text += f", colour preserved ({g.preserve_colour})"
    return [
        text,
        "style distance / content's: the result's Gram distance to the style divided by the content image's "
        "(lower is more stylised); "
        "structure correlation: blurred greyscale result vs content (1 = same layout).",
    ]
