"""The README's restyle examples, rendered by the `stylesim restyle` command line itself: one
held-out photo (scikit-image's astronaut) in two held-out styles (Van Gogh's The Starry Night from
OpenCV's samples, the Plasma wallpaper Kokkini), with AdaIN's options one at a time, tiled with
their commands and times into one picture.

    python scripts/adain_data.py                      # once: the held-out pictures
    python scripts/restyle_examples.py [--out docs/restyle-examples.jpg] [--size 512] [--decoder FILE]

Prints each command and its wall time on stdout (a fresh process each: start-up, model load and
the contact sheet's quality figures included, so several times the transfer itself); the
restyled PNGs stay in a temporary folder unless --keep DIR.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

HELD_OUT = Path.home() / ".cache" / "stylesim" / "adain-data" / "eval"
CONTENT = HELD_OUT / "content" / "0000.jpg"  # astronaut (scikit-image)
STARRY = HELD_OUT / "style" / "0000.jpg"  # The Starry Night (OpenCV samples)
KOKKINI = HELD_OUT / "style" / "0006.jpg"  # Plasma wallpaper Kokkini
TILE = 300  # tile height in the sheet
CAPTION = 34


@dataclass(frozen=True)
class Example:
    title: str
    options: list[str]


def examples(mask: Path) -> list[Example]:
    """Each AdaIN option of `stylesim restyle` on its own, and two together."""
    starry, kokkini = ["--style", str(STARRY)], ["--style", str(KOKKINI)]
    return [
        Example("Starry Night (alpha 1)", starry),
        Example("--alpha 0.5", [*starry, "--alpha", "0.5"]),
        Example("--preserve-color", [*starry, "--preserve-color"]),
        Example("Kokkini", kokkini),
        Example("both, --style-weights 0.5,0.5", [*starry, *kokkini, "--style-weights", "0.5,0.5"]),
        Example("--mask (style 1 in the white)", [*starry, *kokkini, "--mask", str(mask)]),
    ]


def centre_mask(content: Path, out: Path) -> Path:
    """A white ellipse over the middle of the content picture (the astronaut), black elsewhere."""
    with Image.open(content) as image:
        width, height = image.size
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).ellipse((width * 0.2, height * 0.05, width * 0.8, height * 1.1), fill=255)
    mask.save(out)
    return out


def render(example: Example, out: Path, size: int, decoder: str | None) -> tuple[Path, float, str]:
    """Run `stylesim restyle` for one example; (the PNG it wrote, wall seconds, the command)."""
    command = [
        "stylesim",
        "restyle",
        str(CONTENT),
        *example.options,
        "--size",
        str(size),
        "-o",
        str(out),
        "-q",
    ]
    if decoder:
        command += ["--decoder", decoder]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{shlex.join(command)}: failed: {done.stderr.strip().splitlines()[-1:]}")
    written = [Path(line) for line in done.stdout.splitlines() if line.endswith(".png")]
    return written[0], seconds, shlex.join(command)


def tile(picture: Image.Image, caption: str) -> Image.Image:
    """``picture`` at TILE px high with ``caption`` in a white band above it."""
    scaled = ImageOps.contain(picture.convert("RGB"), (round(1.5 * TILE), TILE))
    framed = Image.new("RGB", (scaled.width, TILE + CAPTION), "white")
    framed.paste(scaled, (0, CAPTION))
    ImageDraw.Draw(framed).text((6, 8), caption, fill="black", font_size=17)
    return framed


def sheet(rows: list[list[Image.Image]], path: Path) -> None:
    """Rows of tiles, left-aligned, saved as a JPEG."""
    width = max(sum(t.width for t in row) + 8 * (len(row) - 1) for row in rows)
    height = sum(max(t.height for t in row) for row in rows) + 8 * (len(rows) - 1)
    canvas, y = Image.new("RGB", (width, height), "white"), 0
    for row in rows:
        x = 0
        for t in row:
            canvas.paste(t, (x, y))
            x += t.width + 8
        y += max(t.height for t in row) + 8
    canvas.save(path, quality=85, optimize=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("docs/restyle-examples.jpg"))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--decoder")
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    if not CONTENT.is_file():
        sys.exit(f"{CONTENT}: missing; run python scripts/adain_data.py first")
    with tempfile.TemporaryDirectory(prefix="stylesim-examples-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        mask = centre_mask(CONTENT, work / "mask.png")
        inputs = [tile(Image.open(p), name) for p, name in ((CONTENT, "content"), (STARRY, "style 1"))]
        inputs += [tile(Image.open(KOKKINI), "style 2"), tile(Image.open(mask), "--mask")]
        results = []
        for example in examples(mask):
            png, seconds, command = render(example, work / "out", args.size, args.decoder)
            print(f"{seconds:5.1f} s  {command}", flush=True)
            results.append(tile(Image.open(png), example.title))
        sheet([inputs, results[:3], results[3:]], args.out)
    print(f"sheet: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
