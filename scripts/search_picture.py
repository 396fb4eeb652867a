"""Draw one query's style search and content search side by side, as one PNG (the README's
docs/search.png, written by scripts/demo.sh):

    python scripts/search_picture.py samples/photo/chelsea.jpg --index indexes/default --out docs/search.png

The query is on the left. To its right, the row "looks like this (style)" holds the top results
of ``--by style`` and the row "shows this (content)" those of ``--by content``, each thumbnail
with its score and file name. Both searches go through the Python API (``stylesim.api.search``),
so they rank exactly as ``stylesim search`` does. The PNG is kept under ``--max-kb`` (250 KB by
default): first a full-colour PNG, then a 256-colour one, then smaller thumbnails.
"""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from stylesim import api

ROWS = (("style", "looks like this (style)"), ("content", "shows this (content)"))
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
MUTED = (110, 110, 110)
PAD = 12
FONT_SIZE = 13
LINE = FONT_SIZE + 5
Font = ImageFont.ImageFont | ImageFont.FreeTypeFont


@dataclass(frozen=True)
class Tile:
    """A thumbnail with the lines of text under it (score, then name; the first line darker)."""

    image: Image.Image
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Row:
    title: str
    tiles: list[Tile]


def short_name(result: dict[str, Any]) -> str:
    """``folder/file`` of a result, with ``@seconds`` for a video frame."""
    path = Path(str(result["path"]))
    name = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
    if result.get("kind") == "frame" and result.get("time") is not None:
        name += f"@{float(result['time']):.1f}s"
    return name


def result_rows(query: str, index: str | None, k: int, side: int) -> list[Row]:
    """One row per search mode: the top ``k`` results' thumbnails, scores and names."""
    store = api.open_index(index)
    rows = []
    for by, title in ROWS:
        (result,) = api.search([query], index, by=by, k=k)
        if result.get("error"):
            raise SystemExit(f"search_picture: {result['error']}")
        tiles = [
            Tile(api.item_image(store, int(hit["id"]), side), (f"{float(hit['score']):.2f}", short_name(hit)))
            for hit in result["results"]
        ]
        rows.append(Row(title, tiles))
    return rows


def query_tile(query: str, side: int) -> Tile:
    """The query picture (an image file or VIDEO@TIME), at most ``side`` pixels long."""
    picture = api.load_query(query, side)
    image = Image.fromarray(picture.pixels)
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return Tile(image, (short_name({"path": picture.spec}),))


def fitted(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> str:
    """``text`` cut (with an ellipsis) to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def paste_tile(canvas: Image.Image, tile: Tile, x: int, y: int, box: tuple[int, int], font: Font) -> None:
    """A tile fitted into a ``box`` (width, height) at (x, y), centred, with its text under the box."""
    width, height = box
    image = shrunk(tile.image, width, height)
    canvas.paste(image, (x + (width - image.width) // 2, y + (height - image.height) // 2))
    draw = ImageDraw.Draw(canvas)
    for i, text in enumerate(tile.lines):
        draw.text(
            (x, y + height + 3 + i * LINE),
            fitted(draw, text, font, width),
            fill=MUTED if i else INK,
            font=font,
        )


def compose(query: Tile, rows: list[Row], side: int) -> Image.Image:
    """The query on the left (twice the thumbnail size), a titled row of thumbnails per mode;
    thumbnails fit a 4:3 box ``side`` pixels wide."""
    font = ImageFont.load_default(size=FONT_SIZE)
    box = (side, side * 3 // 4)
    shown = shrunk(query.image, 2 * side, 2 * side)
    columns = max((len(r.tiles) for r in rows), default=1)
    row_height = LINE + box[1] + 2 * LINE + PAD
    left = PAD + shown.width + 2 * PAD
    width = left + columns * (side + PAD)
    height = max(PAD + LINE + shown.height + LINE + PAD, PAD + len(rows) * row_height)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((PAD, PAD), "query", fill=INK, font=font)
    paste_tile(canvas, query, PAD, PAD + LINE, shown.size, font)
    draw.line([(left - PAD, PAD), (left - PAD, height - PAD)], fill=(200, 200, 200), width=1)
    for i, row in enumerate(rows):
        top = PAD + i * row_height
        draw.text((left, top), row.title, fill=INK, font=font)
        for j, tile in enumerate(row.tiles):
            paste_tile(canvas, tile, left + j * (side + PAD), top + LINE, box, font)
    return canvas


def png_bytes(image: Image.Image, colours: int | None) -> bytes:
    """``image`` as an optimised PNG, reduced to ``colours`` (dithered) when given."""
    if colours:
        image = image.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def small_png(query: Tile, rows: list[Row], side: int, max_bytes: int) -> bytes:
    """The picture as a PNG of at most ``max_bytes``: full colour, else 256 colours, else with
    smaller thumbnails."""
    while True:
        canvas = compose(query, rows, side)
        for colours in (None, 256):
            data = png_bytes(canvas, colours)
            if len(data) <= max_bytes:
                return data
        if side <= 48:
            raise SystemExit(f"search_picture: cannot fit the picture in {max_bytes} bytes")
        side = side * 4 // 5


def shrunk(image: Image.Image, width: int, height: int) -> Image.Image:
    """A copy of ``image`` that fits ``width`` x ``height`` (never enlarged)."""
    copy = image.copy()
    copy.thumbnail((width, height), Image.Resampling.LANCZOS)
    return copy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("query", help="query image (or VIDEO@TIME)")
    parser.add_argument("--index", help="index folder (default: as stylesim search)")
    parser.add_argument("--out", type=Path, default=Path("docs/search.png"), help="PNG to write")
    parser.add_argument("-k", type=int, default=5, help="results per row")
    parser.add_argument("--thumbnail", type=int, default=150, help="thumbnail side in pixels")
    parser.add_argument("--max-kb", type=int, default=250, help="largest PNG in KB")
    args = parser.parse_args(argv)
    rows = result_rows(args.query, args.index, args.k, args.thumbnail)
    data = small_png(query_tile(args.query, 2 * args.thumbnail), rows, args.thumbnail, args.max_kb * 1000)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data) // 1000} KB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
