"""The icon-theme, font and artwork sets (stylesim/evaluation/sets/icons.py, sample_fonts.py,
sample_artwork.py), built tiny from the real Debian packages: skipped, with apt's reason, only
where the packages cannot be fetched."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFont

from stylesim.evaluation.sets.debian import DataUnavailable, fetch_package
from stylesim.evaluation.sets.fonts import FONTS, build_fonts, font_file, missing_glyphs, render_text, slug
from stylesim.evaluation.sets.icons import SCALABLE, THEMES, build_icons, nominal_size

ICON_THEMES = ("breeze", "Tango", "gnome")  # SVGs in size folders, scalable SVGs, 256 px PNGs
ICON_NAMES = ("folder", "user-trash", "computer")
FONT_FAMILIES = ("DejaVu Sans", "Lobster", "Blankenburg")
FONT_WORDS = ("Harbour", "Zephyr 1923", "jumping fox")


def fetch_or_skip(packages: list[str]) -> None:
    try:
        for package in packages:
            fetch_package(package)
    except DataUnavailable as err:
        pytest.skip(f"Debian packages unavailable: {err}")


def read_rows(out: Path) -> list[tuple[str, str, str]]:
    with open(out / "labels.csv", newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == ["path", "style", "content"]
        return [(path, style, content) for path, style, content in reader]


def check_grid(out: Path, rows, styles, contents, suffix: str) -> None:
    """Every (style, content) cell once, at OUT/<style folder>/<content>.png, as in labels.csv."""
    assert [(style, content) for _, style, content in rows] == [(s, c) for s in styles for c in contents]
    written = read_rows(out)
    assert [(path.relative_to(out).as_posix(), s, c) for path, s, c in rows] == written
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob(f"*{suffix}"))
    assert on_disk == sorted(relative for relative, _, _ in written)
    for relative, _, _ in written:
        assert relative.count("/") == 1 and (out / relative).is_file(), relative


@pytest.mark.parametrize(
    ("folders", "size"),
    [
        (("256x256@2x", "places"), 512),
        (("apps@2x", "128"), 256),
        (("places", "scalable"), SCALABLE),
        (("base", "64x64", "apps"), 64),
        (("places", "48"), 48),
        (("symbolic", "apps"), None),
        (("scalable-up-to-32", "places"), None),
        (("places", "sources"), None),
    ],
)
def test_icon_nominal_size(folders, size):
    assert nominal_size(folders) == size


def test_icon_set(tmp_path):
    fetch_or_skip([THEMES[theme] for theme in ICON_THEMES])
    rows = build_icons(tmp_path / "a", ICON_THEMES, ICON_NAMES, size=64)
    check_grid(tmp_path / "a", rows, ICON_THEMES, ICON_NAMES, ".png")
    pixels = {(theme, name): np.asarray(Image.open(path)) for path, theme, name in rows}
    for (theme, name), image in pixels.items():
        assert image.shape == (64, 64, 3), (theme, name)
        assert (image == 255).all(axis=2).mean() > 0.05, (theme, name)  # white background shows
        assert (image < 200).any(), (theme, name)  # and an icon on it
    for name in ICON_NAMES:  # each theme draws its own picture
        a, b, c = (pixels[theme, name].astype(int) for theme in ICON_THEMES)
        assert min(np.abs(a - b).mean(), np.abs(a - c).mean(), np.abs(b - c).mean()) > 5, name
    again = build_icons(tmp_path / "b", ICON_THEMES, ICON_NAMES, size=64)
    assert all(p.read_bytes() == q.read_bytes() for (p, *_), (q, *_) in zip(rows, again, strict=True))


def test_icon_names_missing_from_a_theme_are_dropped(tmp_path):
    fetch_or_skip([THEMES[theme] for theme in ICON_THEMES])
    rows = build_icons(tmp_path, ICON_THEMES, (*ICON_NAMES[:2], "no-such-icon"), size=32)
    assert {name for _, _, name in rows} == set(ICON_NAMES[:2])


def test_font_set(tmp_path):
    fetch_or_skip(sorted({FONTS[family][0] for family in FONT_FAMILIES}))
    rows = build_fonts(tmp_path / "a", FONT_FAMILIES, FONT_WORDS)
    check_grid(tmp_path / "a", rows, FONT_FAMILIES, FONT_WORDS, ".png")
    assert {path.parent.name for path, _, _ in rows} == {slug(family) for family in FONT_FAMILIES}
    for path, family, text in rows:
        grey = np.asarray(Image.open(path).convert("L"))
        assert grey.shape == (160, 320) and grey.max() == 255 and grey.min() < 60, (family, text)
        ys, xs = np.nonzero(grey < 128)
        centre = ((xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2)
        assert abs(centre[0] - 160) < 3 and abs(centre[1] - 80) < 3, (family, text, centre)
    again = build_fonts(tmp_path / "b", FONT_FAMILIES, FONT_WORDS)
    assert all(p.read_bytes() == q.read_bytes() for (p, *_), (q, *_) in zip(rows, again, strict=True))


def test_missing_glyphs_and_overflow_are_errors():
    fetch_or_skip([FONTS["DejaVu Sans"][0]])
    font = ImageFont.truetype(str(font_file("DejaVu Sans")), 40)
    assert missing_glyphs(font, "quartz 45") == ""
    assert missing_glyphs(font, "a\u4e2d") == "\u4e2d"  # no CJK in DejaVu Sans
    with pytest.raises(ValueError, match="no glyph"):
        render_text(font, "a\u4e2d")
    with pytest.raises(ValueError, match="over"):
        render_text(font, "a much longer phrase than fits")


def test_variants_of_one_design_are_one_artwork():
    from stylesim.evaluation.sets.artwork import design_name

    def named(path: str, rule: str) -> str:
        return design_name(Path(path), rule)

    plasma = "usr/share/wallpapers/Kite/contents/images/{}.png"
    assert (
        named(plasma.format("1920x1080"), "folder3") == named(plasma.format("5120x2880"), "folder3") == "Kite"
    )
    assert named("gnome/adwaita-l.webp", "variant") == named("gnome/adwaita-d.webp", "variant") == "adwaita"
    sway = "sway/Sway_Wallpaper_Blue_{}.png"
    assert named(sway.format("1920x1080"), "variant") == named(sway.format("2048x1536_Portrait"), "variant")
    mate = "mate/desktop/Ubuntu-Mate-{}-no-logo.png"
    assert named(mate.format("Cold"), "stem") == named(mate.format("Warm"), "stem")
    assert named("ukui/calla.png", "stem") != named("ukui/city.png", "stem")


def test_artwork_crops_show_the_artwork_and_are_labelled_by_it(tmp_path, monkeypatch):
    """Built from a real package (sway's wallpaper, a PNG in two shapes): every crop is
    SIZE square and not flat, each artwork has CROPS of them, labels.csv lists them."""
    from stylesim.evaluation.sets import artwork as sample_artwork

    fetch_or_skip(["sway-backgrounds"])
    source = ("sway-backgrounds", "usr/share/backgrounds/sway/*", "variant")
    monkeypatch.setitem(sample_artwork.SOURCES, "tiny", [source])
    rows = sample_artwork.build_artwork(tmp_path, "tiny", crops=3, size=96)
    assert [label for _, label in rows] == ["sway-backgrounds/Sway_Wallpaper_Blue"] * 3
    assert read_rows(tmp_path) == [(path.relative_to(tmp_path).as_posix(), label, "") for path, label in rows]
    crops = [np.asarray(Image.open(path).convert("L"), np.float32) for path, _ in rows]
    assert all(c.shape == (96, 96) and c.std() >= sample_artwork.MIN_SPREAD for c in crops)
    assert len({c.tobytes() for c in crops}) == 3  # three places, not one crop thrice
    with pytest.raises(ValueError, match="unknown artwork set"):
        sample_artwork.build_artwork(tmp_path, "paintings")
