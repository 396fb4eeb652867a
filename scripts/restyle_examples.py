"""The README's restyle examples, rendered by the `stylesim restyle` command line itself: one
held-out photo (scikit-image's astronaut) in two held-out styles (Van Gogh's The Starry Night from
OpenCV's samples, the Plasma wallpaper Kokkini), with AdaIN's options one at a time, tiled with
their titles into one picture.

    python scripts/adain_data.py                      # once: the held-out pictures
    python scripts/restyle_examples.py [--out docs/restyle-examples.jpg] [--size 512] [--decoder FILE]

Prints each command and its wall time on stdout (a fresh process each: start-up, model load and
the contact sheet's quality figures included, so several times the transfer itself); the
restyled PNGs (one folder per example) stay in a temporary folder unless --keep DIR.
"""

from __future__ import annotations

import argparse
import csv
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

HELD_OUT = Path.home() / ".cache" / "stylesim" / "adain-data" / "eval"
TILE = 300  # tile height in the sheet
CAPTION = 34


@dataclass(frozen=True)
class Example:
    title: str
    options: list[str]


def held_out(role: str, source_part: str) -> Path:
    """The held-out picture of ``role`` (content or style) whose source names ``source_part``
    (scripts/adain_data.py's sources.csv)."""
    folder = HELD_OUT / role
    try:
        with open(folder / "sources.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        sys.exit(f"{folder / 'sources.csv'}: missing; run python scripts/adain_data.py first")
    for row in rows:
        if source_part in row["source"]:
            return folder / row["file"]
    sys.exit(f"{folder / 'sources.csv'}: no {role} picture from {source_part!r}")


def examples(starry_night: Path, kokkini_wallpaper: Path, mask: Path) -> list[Example]:
    """Each AdaIN option of `stylesim restyle` on its own, and two together."""
    starry, kokkini = ["--style", str(starry_night)], ["--style", str(kokkini_wallpaper)]
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


def render(
    content: Path, example: Example, out: Path, size: int, decoder: str | None
) -> tuple[Path, float, str]:
    """Run `stylesim restyle` for one example with AdaIN; (the PNG it wrote, wall seconds, the
    command)."""
    command = [
        "stylesim",
        "restyle",
        str(content),
        *example.options,
        "--method",
        "adain",
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
        reason = (done.stderr.strip().splitlines() or ["no message on stderr"])[-1]
        sys.exit(f"{shlex.join(command)}: failed: {reason}")
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
    content = held_out("content", "astronaut")
    starry, kokkini = held_out("style", "starry_night"), held_out("style", "/Kokkini/")
    with tempfile.TemporaryDirectory(prefix="stylesim-examples-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        mask = centre_mask(content, work / "mask.png")
        pictures = ((content, "content"), (starry, "style 1"), (kokkini, "style 2"), (mask, "--mask"))
        inputs = [tile(Image.open(p), name) for p, name in pictures]
        results = []
        for number, example in enumerate(examples(starry, kokkini, mask), 1):
            png, seconds, command = render(
                content, example, work / f"example-{number}", args.size, args.decoder
            )
            print(f"{seconds:5.1f} s  {command}", flush=True)
            results.append(tile(Image.open(png), example.title))
        sheet([inputs, results[:3], results[3:]], args.out)
    print(f"sheet: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
