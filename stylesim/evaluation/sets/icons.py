"""Build a theme x icon grid from Debian's icon themes: the same freedesktop icon names (folder,
user-trash, audio-x-generic, drive-harddisk…) drawn by different designers. Style label = the
theme, content label = the icon name; both were given by the themes' authors, not by this code.

Packages (Debian bookworm, fetched with `apt-get download` and cached by stylesim/evaluation/sets/debian.py;
licences from each package's debian/copyright, in LICENCES): breeze-icon-theme (breeze),
oxygen-icon-theme (oxygen), papirus-icon-theme (Papirus), faenza-icon-theme (Faenza),
elementary-icon-theme (elementary), numix-icon-theme (Numix), yaru-theme-icon (Yaru),
tango-icon-theme (Tango), gnome-icon-theme (gnome), deepin-icon-theme (bloom).

Left out on purpose: themes that copy another (mate ~ gnome, Obsidian ~ Faenza, Paper ~ Papirus,
elementary-xfce ~ elementary), themes missing most of the names (Adwaita 43, Moka,
Numix-Circle, suru, sugar), and lxde's nuoveXT2, whose largest icons are 128 px PNGs that would be
upscaled (blur would give the theme away).

Each theme's own files only (inherited themes are not followed; symlinks are resolved inside the
package): per name the file drawn for the largest size (``scalable`` SVGs first; an SVG before
a PNG of the same size), where SVGs drawn for < 48 px and PNGs smaller than max(128, SIZE) px
do not count, so nothing is upscaled; ``-symbolic`` icons are skipped. SVGs are drawn by
cairosvg at SIZE px, PNGs downscaled (Lanczos); both centred on white. A name missing from any
chosen theme is dropped (logged), so every (theme, name) cell holds one image.

    python -m stylesim.evaluation.sets.icons OUT_DIR [--size 256] [--themes breeze,Tango] [--names folder,...]

writes OUT_DIR/<theme>/<name>.png and OUT_DIR/labels.csv (path,style,content).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageOps

from stylesim.evaluation.sets.debian import DataUnavailable, fetch_package, write_labels

# theme (its folder under usr/share/icons, and the style label) -> Debian package
THEMES: dict[str, str] = {
    "breeze": "breeze-icon-theme",
    "oxygen": "oxygen-icon-theme",
    "Papirus": "papirus-icon-theme",
    "Faenza": "faenza-icon-theme",
    "elementary": "elementary-icon-theme",
    "Numix": "numix-icon-theme",
    "Yaru": "yaru-theme-icon",
    "Tango": "tango-icon-theme",
    "gnome": "gnome-icon-theme",
    "bloom": "deepin-icon-theme",
}
LICENCES = {
    "breeze-icon-theme": "LGPL-3+ (debian/copyright, Files: *; Uri Herrera, KDE)",
    "oxygen-icon-theme": "LGPL-3+ (debian/copyright; Oxygen team)",
    "papirus-icon-theme": "GPL-3 (debian/copyright; Alexey Varfolomeev et al.)",
    "faenza-icon-theme": "GPL-3+ (debian/copyright; Matthieu James)",
    "elementary-icon-theme": "GPL-3.0-or-later (debian/copyright, Files: *; elementary LLC)",
    "numix-icon-theme": "GPL-3+ (debian/copyright; Numix project)",
    "yaru-theme-icon": "CC-BY-SA-4.0 (debian/copyright, Files: icons/*; Sam Hewitt, Canonical)",
    "tango-icon-theme": "public domain (debian/copyright; Tango Desktop Project)",
    "gnome-icon-theme": "GPL-2+ (debian/copyright; GNOME artists)",
    "deepin-icon-theme": "LGPL-3+ (debian/copyright; Deepin Technology)",
}
# freedesktop names that all ten themes draw, each a different picture within every theme
# (user-desktop, network-workgroup and folder-remote are left out: in some themes they are the
# folder again or one shared file; the dialog-* icons: oxygen has them only at 128 px)
NAMES: tuple[str, ...] = (
    "folder",
    "user-home",
    "user-trash",
    "text-x-generic",
    "audio-x-generic",
    "image-x-generic",
    "video-x-generic",
    "application-x-executable",
    "package-x-generic",
    "text-html",
    "x-office-document",
    "x-office-spreadsheet",
    "x-office-presentation",
    "computer",
    "drive-harddisk",
    "drive-removable-media",
    "preferences-system",
    "media-optical",
)
SVG_MIN_SIZE = 48  # SVGs drawn for smaller sizes are simplified pixel-grid versions
PNG_MIN_SIZE = 128
SCALABLE = 100_000  # rank of a "scalable" folder: above every fixed size
_SIZE_FOLDER = re.compile(r"(\d+)(?:x\d+)?(?:@(\d+)x)?")  # 48, 256x256, 256x256@2x
_SCALE_FOLDER = re.compile(r"[A-Za-z-]+@(\d+)x")  # apps@2x (elementary)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def nominal_size(folders: Sequence[str]) -> int | None:
    """The pixel size an icon was drawn for, from its folders inside the theme (``48``,
    ``256x256@2x``, ``apps@2x/128``; ``scalable`` = SCALABLE); None for symbolic icons,
    ``scalable-up-to-32``-style folders and folders without a size (sources, extras)."""
    size, scale = None, 1
    for part in folders:
        if "symbolic" in part or part.startswith("scalable-"):
            return None
        if part == "scalable":
            size = SCALABLE
        elif match := _SIZE_FOLDER.fullmatch(part):
            size, scale = int(match[1]), int(match[2] or scale)
        elif match := _SCALE_FOLDER.fullmatch(part):
            scale = int(match[1])
    return None if size is None else size * scale


def theme_icons(theme: str, names: set[str], min_png: int) -> dict[str, Path]:
    """The file drawn for each of ``names`` that ``theme`` ships itself: the one drawn for the
    largest size (scalable first, an SVG before a PNG of the same size), among SVGs drawn for
    >= SVG_MIN_SIZE and PNGs of >= ``min_png`` px; symlinks resolved (only targets inside the
    package count). DataUnavailable if the package cannot be fetched."""
    package_root = fetch_package(THEMES[theme]).resolve()
    root = package_root / "usr" / "share" / "icons" / theme
    if not root.is_dir():
        raise DataUnavailable(f"{THEMES[theme]}: no icon theme folder {theme}")
    best: dict[str, tuple[tuple[int, bool, str], Path]] = {}
    for folder, _, files in sorted(os.walk(root)):
        for file in sorted(files):
            stem, ext = os.path.splitext(file)
            if stem not in names or ext not in (".svg", ".png"):
                continue
            path = Path(folder) / file
            size = nominal_size(path.relative_to(root).parts[:-1])
            if size is None or size < (SVG_MIN_SIZE if ext == ".svg" else min_png):
                continue
            target = path.resolve()
            if not target.is_file() or package_root not in target.parents:
                continue
            key = (size, ext == ".svg", path.relative_to(root).as_posix())
            if stem not in best or key > best[stem][0]:
                best[stem] = (key, target)
    return {name: path for name, (_, path) in best.items()}


def svg_to_png(data: bytes, width: int) -> bytes:
    """PNG bytes of an SVG drawn ``width`` px wide by cairosvg (external files never fetched)."""
    try:
        import cairosvg
    except (ImportError, OSError) as err:  # OSError: the cairo library itself is missing
        raise DataUnavailable(f"cairosvg is needed to draw SVG icons (pip install cairosvg): {err}") from None
    png: bytes = cairosvg.svg2png(bytestring=data, output_width=width)
    return png


def render_icon(path: Path, size: int) -> Image.Image:
    """An icon file as a ``size`` x ``size`` RGB image: an SVG drawn at that size, a PNG
    resized (Lanczos), aspect ratio kept, centred on white."""
    data = svg_to_png(path.read_bytes(), size) if path.suffix == ".svg" else path.read_bytes()
    with Image.open(io.BytesIO(data)) as opened:
        icon = ImageOps.contain(opened.convert("RGBA"), (size, size), Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", (size, size), "white")
    canvas.alpha_composite(icon, ((size - icon.width) // 2, (size - icon.height) // 2))
    return canvas.convert("RGB")


def build_icons(
    out: Path, themes: Sequence[str] = tuple(THEMES), names: Sequence[str] = NAMES, size: int = 256
) -> list[tuple[Path, str, str]]:
    """Draw every name in every theme as ``out/<theme>/<name>.png``; names missing from any
    theme are dropped (logged). Returns (path, theme, name) rows, also written to
    ``out/labels.csv``. DataUnavailable when a package cannot be fetched or < 2 names are left."""
    unknown = [theme for theme in themes if theme not in THEMES]
    if unknown:
        raise ValueError(f"unknown themes {unknown}; known: {', '.join(THEMES)}")
    min_png = max(PNG_MIN_SIZE, size)
    icons = {theme: theme_icons(theme, set(names), min_png) for theme in themes}
    kept = [name for name in names if all(name in icons[theme] for theme in themes)]
    for name in names:
        if name not in kept:
            log(f"icons: dropped {name} (missing from {[t for t in themes if name not in icons[t]]})")
    if len(kept) < 2:
        raise DataUnavailable(f"icons: only {kept} drawn by every theme of {list(themes)}")
    rows: list[tuple[Path, str, str]] = []
    for theme in themes:
        for name in kept:
            path = out / theme / f"{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            render_icon(icons[theme][name], size).save(path)
            rows.append((path, theme, name))
    write_labels(out, rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=256, help="side in pixels")
    parser.add_argument("--themes", default=",".join(THEMES), help="comma-separated themes")
    parser.add_argument("--names", default=",".join(NAMES), help="comma-separated icon names")
    args = parser.parse_args(argv)
    themes, names = args.themes.split(","), args.names.split(",")
    rows = build_icons(args.out, themes, names, args.size)
    kept = len({name for _, _, name in rows})
    log(f"wrote {len(rows)} icons ({len(themes)} themes x {kept} names) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
