"""Build a font x word grid: short words and phrases typeset in many font families from Debian's
font packages. Style label = the font family (drawn by its type designer), content label = the
text; neither is made by this code.

Families (20), by kind, with their packages (Debian bookworm, fetched with `apt-get download` and
cached by stylesim/evaluation/sets/debian.py, unpacked, never installed; licences from each package's
debian/copyright, in LICENCES):
  serif        EB Garamond (fonts-ebgaramond), Old Standard (fonts-oldstandard),
               C059 = URW Century Schoolbook (fonts-urw-base35)
  sans         DejaVu Sans (fonts-dejavu-core), Cantarell (fonts-cantarell),
               Comfortaa (fonts-comfortaa)
  display      Bebas Neue (fonts-bebas-neue), Yanone Kaffeesatz (fonts-yanone-kaffeesatz)
  monospace    Inconsolata (fonts-inconsolata), Courier Prime (fonts-courier-prime),
               GNU Typewriter (fonts-gnutypewriter)
  script       Z003 = URW Chancery (fonts-urw-base35), Lobster (fonts-lobster),
               Dancing Script (fonts-dancingscript), Kaushan Script (fonts-kaushanscript)
  handwriting  Comic Neue (fonts-comic-neue), Humor Sans (fonts-humor-sans),
               DKG Handwriting (fonts-dkg-handwriting)
  blackletter  Blankenburg (fonts-blankenburg), Zainer Gotico-Antiqua (fonts-gotico-antiqua)
(The other faces of fonts-gotico-antiqua and fonts-levien-typoscript lack digits or letters.)

Each text is drawn by Pillow (FreeType, basic layout: no ligatures, the same on every machine) at
one size, black on white, its ink box centred on a fixed canvas. A glyph missing from a font, or
a text wider than the canvas, is an error, not a silent box.

    python -m stylesim.evaluation.sets.fonts OUT_DIR [--size 40] [--families "EB Garamond,Lobster"]
                                           [--words "Harbour,quartz"]

writes OUT_DIR/<family>/<text>.png (lower case, spaces as dashes) and OUT_DIR/labels.csv
(path,style,content).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from stylesim.evaluation.sets.debian import DataUnavailable, fetch_package, write_labels

# family (the style label) -> (Debian package, font file inside it)
FONTS: dict[str, tuple[str, str]] = {
    "EB Garamond": ("fonts-ebgaramond", "EBGaramond12-Regular.otf"),
    "Old Standard": ("fonts-oldstandard", "OldStandard-Regular.ttf"),
    "C059": ("fonts-urw-base35", "C059-Roman.otf"),
    "DejaVu Sans": ("fonts-dejavu-core", "DejaVuSans.ttf"),
    "Cantarell": ("fonts-cantarell", "Cantarell-Regular.otf"),
    "Comfortaa": ("fonts-comfortaa", "Comfortaa-Regular.ttf"),
    "Bebas Neue": ("fonts-bebas-neue", "BebasNeue-Regular.otf"),
    "Yanone Kaffeesatz": ("fonts-yanone-kaffeesatz", "YanoneKaffeesatz-Regular.otf"),
    "Inconsolata": ("fonts-inconsolata", "Inconsolata.otf"),
    "Courier Prime": ("fonts-courier-prime", "Courier Prime.otf"),
    "GNU Typewriter": ("fonts-gnutypewriter", "GNUTypewriter.ttf"),
    "Z003": ("fonts-urw-base35", "Z003-MediumItalic.otf"),
    "Lobster": ("fonts-lobster", "lobster.otf"),
    "Dancing Script": ("fonts-dancingscript", "DancingScript-Regular.otf"),
    "Kaushan Script": ("fonts-kaushanscript", "KaushanScript-Regular.otf"),
    "Comic Neue": ("fonts-comic-neue", "ComicNeue-Regular.otf"),
    "Humor Sans": ("fonts-humor-sans", "Humor-Sans.ttf"),
    "DKG Handwriting": ("fonts-dkg-handwriting", "dkg.ttf"),
    "Blankenburg": ("fonts-blankenburg", "Blankenburg_UNZ1A.ttf"),
    "Zainer Gotico-Antiqua": ("fonts-gotico-antiqua", "Zainer-GoticoAntiqua96G.otf"),
}
LICENCES = {
    "fonts-ebgaramond": "OFL-1.1 (debian/copyright, Files: *)",
    "fonts-oldstandard": "OFL-1.0 (debian/copyright; Alexey Kryukov)",
    "fonts-urw-base35": "AGPL-3 with font exception (debian/copyright, Files: *; URW++)",
    "fonts-dejavu-core": "Bitstream Vera licence (debian/copyright, Files: *)",
    "fonts-cantarell": "OFL-1.1 (debian/copyright, Files: *)",
    "fonts-comfortaa": "OFL-1.1 (debian/copyright, Files: *)",
    "fonts-bebas-neue": "OFL-1.1 (debian/copyright, Files: *)",
    "fonts-yanone-kaffeesatz": "OFL-1.1 (debian/copyright, Files: *)",
    "fonts-inconsolata": "OFL-1.0 (debian/copyright, Files: *)",
    "fonts-courier-prime": "OFL-1.1 (debian/copyright, Files: *)",
    "fonts-gnutypewriter": "OFL-1.1 (debian/copyright, Files: *)",
    "fonts-lobster": "OFL-1.1 (debian/copyright, Files: *)",
    "fonts-dancingscript": "OFL-1.1 (debian/copyright, Files: *)",
    "fonts-kaushanscript": "OFL-1.1 (debian/copyright, Files: *)",
    "fonts-comic-neue": "OFL-1.1 (debian/copyright, Files: *)",
    "fonts-humor-sans": "OFL-1.1 (debian/copyright, Files: *.ttf)",
    "fonts-dkg-handwriting": "GPL-3+ (debian/copyright, Files: *; the font source is also OFL-1.1)",
    "fonts-blankenburg": "OFL-1.1 (debian/copyright, Files: *)",
    "fonts-gotico-antiqua": "OFL-1.1 (debian/copyright, Files: *)",
}
# short texts: capitals, descenders, digits and a space; every family above has every glyph
WORDS: tuple[str, ...] = (
    "Harbour",
    "quartz",
    "Zephyr 1923",
    "jumping fox",
    "Moonlight",
    "velvet",
    "Gazette",
    "Kingdom",
    "bicycle",
    "Waltz 45",
)
CANVAS = (320, 160)
NOT_A_CHARACTER = "\U0010fffd"  # private use: every font draws its missing-glyph box for it


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def font_file(family: str) -> Path:
    """The font file of ``family`` in its unpacked package (DataUnavailable if not there)."""
    package, name = FONTS[family]
    found = sorted(fetch_package(package).rglob(name))
    if not found:
        raise DataUnavailable(f"{package}: no font file {name}")
    return found[0]


def missing_glyphs(font: ImageFont.FreeTypeFont, text: str) -> str:
    """The characters of ``text`` that ``font`` draws as its missing-glyph box."""
    missing = bytes(font.getmask(NOT_A_CHARACTER))
    return "".join(sorted({ch for ch in text if not ch.isspace() and bytes(font.getmask(ch)) == missing}))


def render_text(font: ImageFont.FreeTypeFont, text: str, canvas: tuple[int, int] = CANVAS) -> Image.Image:
    """``text`` in black on a white RGB ``canvas``, its ink box centred; ValueError if the font
    lacks a glyph or the text does not fit."""
    absent = missing_glyphs(font, text)
    if absent:
        raise ValueError(f"{font.getname()[0]} has no glyph for {absent!r} (in {text!r})")
    image = Image.new("RGB", canvas, "white")
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    if right - left > canvas[0] or bottom - top > canvas[1]:
        raise ValueError(
            f"{text!r} in {font.getname()[0]} is {right - left}x{bottom - top} px: over {canvas}"
        )
    origin = ((canvas[0] - (right - left)) / 2 - left, (canvas[1] - (bottom - top)) / 2 - top)
    draw.text(origin, text, font=font, fill="black")
    return image


def slug(text: str) -> str:
    return "-".join(text.lower().split())


def build_fonts(
    out: Path,
    families: Sequence[str] = tuple(FONTS),
    words: Sequence[str] = WORDS,
    size: int = 40,
    canvas: tuple[int, int] = CANVAS,
) -> list[tuple[Path, str, str]]:
    """Draw every text in every family (``size`` px) as ``out/<family>/<text>.png``; returns
    (path, family, text) rows, also written to ``out/labels.csv``. DataUnavailable when a font
    package cannot be fetched."""
    unknown = [family for family in families if family not in FONTS]
    if unknown:
        raise ValueError(f"unknown families {unknown}; known: {', '.join(FONTS)}")
    rows: list[tuple[Path, str, str]] = []
    for family in families:
        font = ImageFont.truetype(str(font_file(family)), size, layout_engine=ImageFont.Layout.BASIC)
        for text in words:
            path = out / slug(family) / f"{slug(text)}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            render_text(font, text, canvas).save(path)
            rows.append((path, family, text))
    write_labels(out, rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=40, help="font size in pixels")
    parser.add_argument("--families", default=",".join(FONTS), help="comma-separated families")
    parser.add_argument("--words", default=",".join(WORDS), help="comma-separated texts")
    args = parser.parse_args(argv)
    families, words = args.families.split(","), args.words.split(",")
    rows = build_fonts(args.out, families, words, args.size)
    log(f"wrote {len(rows)} images ({len(families)} families x {len(words)} texts) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
