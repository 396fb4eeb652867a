"""Judge Gatys style transfer on several content/style pairs with the project's own encoder,
and time an optimisation step at 256 and 512 px.

    python scripts/eval_transfer.py [--size 256] [--steps 100] [--out out/eval-transfer] [--no-timing]

Pass criteria (issue 3): the result's Gram distance to the style <= 0.6 x the content image's,
and the blurred small greyscale result correlates >= 0.8 with the content's
(``stylesim.transfer.quality``). Contents are scikit-image photos; styles are renderings by
OpenCV / PIL filters of *other* photos, and scikit-image textures. Prints a Markdown table on
stdout and writes the results with an HTML contact sheet into --out.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sample_grid  # noqa: E402

from stylesim.encoding import VGG19Encoder, resolve_device, resolve_weights  # noqa: E402
from stylesim.encoding.layers import GATYS_STYLE_LAYERS, layer_index  # noqa: E402
from stylesim.report.contact_sheet import SheetRow, Tile, save_thumbnail, write_contact_sheet  # noqa: E402
from stylesim.transfer.gatys import GatysSettings, gatys_transfer  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("out/eval-transfer"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-timing", action="store_true")
    args = parser.parse_args()

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
    if not args.no_timing:
        print("\n| size | seconds per L-BFGS step |\n| --- | --- |")
        for size in (256, 512):
            print(f"| {size} px | {time_steps(encoder, size):.2f} |", flush=True)


if __name__ == "__main__":
    main()
