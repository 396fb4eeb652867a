"""Images to train the AdaIN decoder on, and the held-out pairs that judge it, from Debian packages
fetched at run time (stylesim/evaluation/sets/debian.py: `apt-get download`, cached) and scikit-image.

    python scripts/adain_data.py [OUT]        (default ~/.cache/stylesim/adain-data)

Writes, each folder with a sources.csv (file, package, source, licence):
  OUT/content/      photo-like JPEGs: OpenCV's documentation and sample photos, the GIMP
                    manual's photos, wallpaper photos (MATE, Plasma, UKUI, Lomiri)
  OUT/style/        illustrations (Openclipart), seamless patterns (GIMP, Krita), abstract and
                    illustrated wallpapers and theme art (MATE, Plasma, UKUI, desktop-base),
                    and OpenCV/PIL filter looks (stylesim/evaluation/sets/grid.py) of some content photos
  OUT/eval/content/ held out: scikit-image's photos (never trained on)
  OUT/eval/style/   held out: the painting in OpenCV's samples (Van Gogh's Starry Night),
                    six illustrated Plasma wallpapers (Kite, PastelHills, Altai, Opal, Cascade,
                    Kokkini), Debian Edu artwork, Openclipart's animals and people

Photo-like: a JPEG whose short side is >= 256 px and whose 64 px thumbnail has many colours and
few flat white or black pixels (diagrams, screenshots and checkerboards fail). Near-duplicates
(the same picture through another GIMP filter) are collapsed: a 16 x 16 grey thumbnail within
0.04 mean absolute difference of a kept one is dropped. ``gcompris-qt-data`` is never used: it
is held out for the project's evaluation.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stylesim.evaluation.sets.debian import DataUnavailable, fetch_package, gimp_patterns

MAX_SIDE = 1280
MIN_SHORT_SIDE = 256
HELD_OUT_PAINTINGS = ("starry_night", "mona", "lisa")
HELD_OUT_WALLPAPERS = ("Kite", "PastelHills", "Altai", "Opal", "Cascade", "Kokkini")
HELD_OUT_CLIPART = ("animals", "people")
LICENCES = {
    "opencv-doc": "BSD-3-Clause / Apache-2.0 (debian/copyright)",
    "gimp-help-en": "GFDL-NIV-1.2+ (gimp-help-common debian/copyright)",
    "mate-backgrounds": "GPL-2+ / CC-BY-SA-4.0 (debian/copyright)",
    "plasma-workspace-wallpapers": "GPL-2+ (debian/copyright)",
    "ukui-wallpapers": "CC-BY-SA-3.0 (debian/copyright)",
    "lomiri-wallpapers-16.04": "CC-BY-4.0 / CC-BY-SA (debian/copyright)",
    "openclipart-png": "public domain dedication (debian/copyright)",
    "gimp-data": "GPL-3+ and other free licences (debian/copyright, Files: *)",
    "krita-data": "GPL-2+ / LGPL-2+ (debian/copyright)",
    "desktop-base": "GPL-2+ / GPL-3+ / CC-BY-SA-3.0 (debian/copyright)",
    "debian-edu-artwork": "GPL-2+ (debian/copyright)",
    "scikit-image": "public domain / CC0 (skimage/data/README.txt)",
}


@dataclass
class Picked:
    image: Image.Image
    package: str
    source: str


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def package_files(package: str, patterns: Iterable[str]) -> list[Path]:
    try:
        root = fetch_package(package)
    except DataUnavailable as err:
        log(f"skipped: {err}")
        return []
    return sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})


def open_rgb(path: Path) -> Image.Image | None:
    try:
        with Image.open(path) as img:
            img.draft("RGB", (MAX_SIDE, MAX_SIDE))
            img.load()
            if img.mode in ("RGBA", "LA", "P", "PA"):
                rgba = img.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                return Image.alpha_composite(white, rgba).convert("RGB")
            return img.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def is_photo_like(image: Image.Image) -> bool:
    """Many colours, few flat white/black pixels, some contrast (module docstring)."""
    if min(image.size) < MIN_SHORT_SIDE:
        return False
    thumb = np.asarray(image.resize((64, 64), Image.Resampling.BOX), dtype=np.int16)
    flat = ((thumb > 247).all(axis=2) | (thumb < 8).all(axis=2)).mean()
    colours = len(np.unique((thumb >> 3).reshape(-1, 3), axis=0))
    return bool(flat < 0.35 and colours > 600 and thumb.mean(axis=2).std() > 20)


class NearDuplicates:
    """Remembers 16 x 16 grey thumbnails; ``seen`` is True within 0.04 mean absolute difference."""

    def __init__(self, threshold: float = 0.04) -> None:
        self.threshold = threshold
        self.thumbs: list[np.ndarray] = []

    def seen(self, image: Image.Image) -> bool:
        thumb = np.asarray(image.convert("L").resize((16, 16), Image.Resampling.BOX), np.float32) / 255.0
        if any(float(np.abs(thumb - t).mean()) < self.threshold for t in self.thumbs):
            return True
        self.thumbs.append(thumb)
        return False


def held_out(path: Path) -> bool:
    text = str(path).lower()
    return (
        any(word in text for word in HELD_OUT_PAINTINGS)
        or any(f"/png/{c}/" in text for c in HELD_OUT_CLIPART)
        or any(f"/wallpapers/{w.lower()}/" in text for w in HELD_OUT_WALLPAPERS)
    )


def photos(package: str, patterns: Iterable[str], duplicates: NearDuplicates) -> Iterator[Picked]:
    for path in package_files(package, patterns):
        image = open_rgb(path)
        if image is not None and not held_out(path) and is_photo_like(image) and not duplicates.seen(image):
            yield Picked(image, package, str(path))


def artwork(
    package: str,
    patterns: Iterable[str],
    min_side: int = 200,
    per_folder: int = 1000,
    keep_held_out: bool = False,
) -> Iterator[Picked]:
    counts: dict[Path, int] = {}
    for path in package_files(package, patterns):
        if (held_out(path) and not keep_held_out) or counts.get(path.parent, 0) >= per_folder:
            continue
        image = open_rgb(path)
        if image is not None and min(image.size) >= min_side:
            counts[path.parent] = counts.get(path.parent, 0) + 1
            yield Picked(image, package, str(path))


def tiled(image: Image.Image, side: int = 384) -> Image.Image:
    """A seamless pattern repeated to at least ``side`` pixels each way."""
    reps_x, reps_y = -(-side // image.width), -(-side // image.height)
    out = Image.new("RGB", (image.width * reps_x, image.height * reps_y))
    for i in range(reps_x):
        for j in range(reps_y):
            out.paste(image, (i * image.width, j * image.height))
    return out


def patterns() -> Iterator[Picked]:
    try:
        for folder, name, image in gimp_patterns():
            yield Picked(tiled(image), "gimp-data", f"patterns/{folder}/{name}.pat")
    except DataUnavailable as err:
        log(f"skipped: {err}")
    for picked in artwork("krita-data", ["usr/share/krita/patterns/*"], min_side=16):
        yield Picked(tiled(picked.image), picked.package, picked.source)


def content_images() -> Iterator[Picked]:
    duplicates = NearDuplicates()
    yield from photos("mate-backgrounds", ["usr/share/backgrounds/mate/nature/*.jpg"], duplicates)
    yield from photos(
        "plasma-workspace-wallpapers", ["usr/share/wallpapers/*/contents/images/*.jpg"], duplicates
    )
    yield from photos("ukui-wallpapers", ["usr/share/backgrounds/*.jpg"], duplicates)
    yield from photos("lomiri-wallpapers-16.04", ["usr/share/backgrounds/*.jpg"], duplicates)
    yield from photos("opencv-doc", ["usr/share/doc/opencv-doc/**/*.jpg"], duplicates)
    yield from photos("gimp-help-en", ["usr/share/gimp/2.0/help/en/images/**/*.jpg"], duplicates)


def style_images(contents: list[Picked], looks_every: int = 3) -> Iterator[Picked]:
    yield from artwork("openclipart-png", ["usr/share/openclipart/png/**/*.png"], per_folder=4)
    yield from patterns()
    yield from artwork("desktop-base", ["usr/share/**/*.png"], min_side=256)
    yield from artwork(
        "mate-backgrounds", ["usr/share/backgrounds/mate/abstract/*", "usr/share/backgrounds/mate/desktop/*"]
    )
    yield from artwork("plasma-workspace-wallpapers", ["usr/share/wallpapers/*/contents/images/*.png"])
    yield from artwork("ukui-wallpapers", ["usr/share/backgrounds/*.png"])
    yield from filter_looks(contents[::looks_every])


def filter_looks(contents: list[Picked]) -> Iterator[Picked]:
    """Each photo in one of sample_grid's looks (oil, watercolour, pencil ...), in turn."""
    from stylesim.evaluation.sets.grid import LOOKS

    names = [n for n in LOOKS if n != "photo"]
    for i, picked in enumerate(contents):
        look = names[i % len(names)]
        small = picked.image.copy()
        small.thumbnail((640, 640), Image.Resampling.LANCZOS)
        rendered = Image.fromarray(LOOKS[look](np.asarray(small)))
        yield Picked(rendered, f"{picked.package} + {look} filter", picked.source)


def eval_contents() -> Iterator[Picked]:
    from stylesim.evaluation.sets.grid import PHOTOS, load_photo

    for name in PHOTOS:
        yield Picked(Image.fromarray(load_photo(name, 1024)), "scikit-image", f"skimage.data.{name}")


def eval_styles() -> Iterator[Picked]:
    for path in package_files("opencv-doc", ["usr/share/doc/opencv-doc/**/*.jpg"]):
        if any(word in path.name.lower() for word in HELD_OUT_PAINTINGS):
            image = open_rgb(path)
            if image is not None and min(image.size) >= 200:
                yield Picked(image, "opencv-doc", str(path))
    for name in HELD_OUT_WALLPAPERS:
        yield from artwork(
            "plasma-workspace-wallpapers",
            [f"usr/share/wallpapers/{name}/contents/images/*"],
            per_folder=1,
            keep_held_out=True,
        )
    for variant in ("emerald", "homeworld", "softwaves", "spacefun"):
        yield from artwork(
            f"debian-edu-artwork-{variant}",
            ["usr/share/**/*.png", "usr/share/**/*.jpg"],
            min_side=300,
            per_folder=2,
        )
    for category in HELD_OUT_CLIPART:
        yield from artwork_held_out(category)


def artwork_held_out(category: str, count: int = 6) -> Iterator[Picked]:
    files = package_files("openclipart-png", [f"usr/share/openclipart/png/{category}/**/*.png"])
    picked = 0
    for path in files:
        image = open_rgb(path)
        if image is not None and min(image.size) >= 300 and picked < count:
            picked += 1
            yield Picked(image, "openclipart-png", str(path))


def write_set(folder: Path, images: Iterable[Picked]) -> int:
    """Save every image as JPEG (long side <= MAX_SIDE) with its source and licence."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, picked in enumerate(images):
        image = picked.image.copy()
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        name = f"{i:04d}.jpg"
        image.save(folder / name, quality=92)
        package = picked.package.split(" ")[0]
        licence = LICENCES.get(package) or LICENCES.get(package.rsplit("-", 1)[0], "see debian/copyright")
        rows.append({"file": name, "package": picked.package, "source": picked.source, "licence": licence})
    with open(folder / "sources.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["file", "package", "source", "licence"])
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "out", nargs="?", type=Path, default=Path.home() / ".cache" / "stylesim" / "adain-data"
    )
    args = parser.parse_args(argv)
    contents = list(content_images())
    log(f"content: {write_set(args.out / 'content', contents)} photos")
    log(f"style: {write_set(args.out / 'style', style_images(contents))} images")
    log(
        f"held out: {write_set(args.out / 'eval' / 'content', eval_contents())} contents, "
        f"{write_set(args.out / 'eval' / 'style', eval_styles())} styles"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
