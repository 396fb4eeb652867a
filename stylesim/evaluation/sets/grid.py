"""Build a content x look grid of real photos: every photo rendered in every look by code this
project did not write (OpenCV's non-photorealistic filters, PIL filters).

Photos come from scikit-image's bundled data (public-domain / CC0 / CC-BY images, see
skimage/data/README.txt), so nothing is downloaded. Used by the README quick start (sample
collection), by scripts/eval_retrieval.py and by the tests.

    python -m stylesim.evaluation.sets.grid OUT_DIR [--photos 10] [--looks photo,watercolour,...] [--size 320]

writes OUT_DIR/<look>/<photo>.jpg and OUT_DIR/labels.csv (path,style,content).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter, ImageOps

# Colour and grey photos bundled with scikit-image (no network needed).
PHOTOS: tuple[str, ...] = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "stereo_motorcycle",
    "camera",
    "clock",
    "coins",
    "moon",
)


def extra_photos() -> tuple[str, ...]:
    """Names (``mate:<name>``) of the 12 nature photos of Debian's mate-backgrounds, fetched
    and cached by ``sets.debian``; DataUnavailable where apt cannot fetch them."""
    from stylesim.evaluation.sets.debian import mate_nature_photos

    return tuple(f"mate:{name}" for name, _ in mate_nature_photos())


def load_photo(name: str, size: int) -> np.ndarray:
    """uint8 RGB array of a scikit-image sample photo (or ``mate:<name>``, see
    ``extra_photos``), long side ``size``."""
    if name.startswith("mate:"):
        from stylesim.evaluation.sets.debian import mate_nature_photos

        path = dict(mate_nature_photos())[name[5:]]
        with Image.open(path) as opened:
            opened.draft("RGB", (size, size))
            rgb = opened.convert("RGB")
        rgb.thumbnail((size, size), Image.Resampling.LANCZOS)
        return np.asarray(rgb)
    from skimage import data

    img = getattr(data, name)()
    if isinstance(img, tuple):  # stereo_motorcycle -> (left, right, disparity)
        img = img[0]
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = (255 * (img.astype(np.float64) / max(float(img.max()), 1e-9))).astype(np.uint8)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    picture = Image.fromarray(img[..., :3])
    picture.thumbnail((size, size), Image.Resampling.LANCZOS)
    return np.asarray(picture)


def _cv2() -> Any:
    import cv2

    return cv2


def _in_bgr(img: np.ndarray, bgr_filter: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """An OpenCV filter (BGR in, BGR out) applied to an RGB image."""
    cv2 = _cv2()
    rgb: np.ndarray = cv2.cvtColor(bgr_filter(cv2.cvtColor(img, cv2.COLOR_RGB2BGR)), cv2.COLOR_BGR2RGB)
    return rgb


def _pencil_sketch(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's pencilSketch of an RGB image: (grey drawing, colour drawing in RGB)."""
    cv2 = _cv2()
    grey, colour = cv2.pencilSketch(
        cv2.cvtColor(img, cv2.COLOR_RGB2BGR), sigma_s=60, sigma_r=0.07, shade_factor=0.05
    )
    return grey, cv2.cvtColor(colour, cv2.COLOR_BGR2RGB)


def _watercolour(img: np.ndarray) -> np.ndarray:
    return _in_bgr(img, lambda bgr: _cv2().stylization(bgr, sigma_s=60, sigma_r=0.45))


def _pencil(img: np.ndarray) -> np.ndarray:
    return np.stack([_pencil_sketch(img)[0]] * 3, axis=-1)


def _oil(img: np.ndarray) -> np.ndarray:
    return _in_bgr(img, lambda bgr: _cv2().xphoto.oilPainting(bgr, 7, 1))


def _emboss(img: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(img).filter(ImageFilter.EMBOSS))


def _duotone(img: np.ndarray) -> np.ndarray:
    grey = ImageOps.grayscale(Image.fromarray(img))
    return np.asarray(ImageOps.colorize(ImageOps.autocontrast(grey), black="#1d0b3a", white="#ffd08a"))


def _posterize(img: np.ndarray) -> np.ndarray:
    pil = ImageOps.posterize(Image.fromarray(img), 2).filter(ImageFilter.EDGE_ENHANCE_MORE)
    return np.asarray(pil)


LOOKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "photo": lambda img: img,
    "watercolour": _watercolour,
    "pencil": _pencil,
    "oil": _oil,
    "emboss": _emboss,
    "duotone": _duotone,
    "posterize": _posterize,
}


def _contour(img: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(img).filter(ImageFilter.CONTOUR))


def _detail(img: np.ndarray) -> np.ndarray:
    return _in_bgr(img, lambda bgr: _cv2().detailEnhance(bgr, sigma_s=10, sigma_r=0.15))


def _colour_pencil(img: np.ndarray) -> np.ndarray:
    return _pencil_sketch(img)[1]


def _solarize(img: np.ndarray) -> np.ndarray:
    return np.asarray(ImageOps.solarize(Image.fromarray(img), threshold=128))


def _pixelate(img: np.ndarray) -> np.ndarray:
    pil = Image.fromarray(img)
    small = pil.resize((max(1, pil.width // 12), max(1, pil.height // 12)), Image.Resampling.BOX)
    return np.asarray(small.resize(pil.size, Image.Resampling.NEAREST))


def _blur(img: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(4)))


# Looks that chose nothing: no setting of the project was measured on them before they were
# added, so the "grid-unseen" set (scripts/eval_retrieval.py) checks that the defaults carry over.
UNSEEN_LOOKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "contour": _contour,
    "detail": _detail,
    "colour-pencil": _colour_pencil,
    "solarize": _solarize,
    "pixelate": _pixelate,
    "blur": _blur,
}
RENDERERS = {**LOOKS, **UNSEEN_LOOKS}


def build_grid(
    out: Path, photos: tuple[str, ...] = PHOTOS, looks: tuple[str, ...] = tuple(LOOKS), size: int = 320
) -> list[tuple[Path, str, str]]:
    """Write every photo in every look as JPEG under ``out``; returns (path, look, photo) rows
    and writes them to ``out/labels.csv``."""
    rows: list[tuple[Path, str, str]] = []
    for photo in photos:
        img = load_photo(photo, size)
        for look in looks:
            path = out / look / f"{photo.replace('mate:', 'mate-')}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(RENDERERS[look](img)).save(path, quality=92)
            rows.append((path, look, photo))
    with open(out / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "style", "content"])
        for path, look, photo in rows:
            writer.writerow([path.relative_to(out).as_posix(), look, photo])
    return rows


COPIES: dict[str, Callable[[Image.Image], Image.Image]] = {  # near-duplicates of a picture
    "half.webp": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "third.png": lambda im: im.resize((im.width // 3, im.height // 3), Image.Resampling.LANCZOS),
    "q25.jpg": lambda im: im,  # saved at JPEG quality 25
    "crop.jpg": lambda im: im.crop(
        (im.width // 20, im.height // 20, im.width - im.width // 20, im.height - im.height // 20)
    ),
    "copy.bmp": lambda im: im,
}
DISTRACTOR_LOOKS = ("pencil", "oil", "watercolour", "duotone", "posterize")


def build_near_duplicates(out: Path, photos: tuple[str, ...] = PHOTOS, size: int = 320) -> None:
    """Each photo and its near-duplicates (half and third size, JPEG quality 25, a 5 % crop, a
    BMP copy: style label = the photo), among the photo in DISTRACTOR_LOOKS (the same picture in
    other looks, unlabelled: never a query, never relevant); ``out/labels.csv`` as ``build_grid``."""
    rows = build_grid(out, photos, ("photo", *DISTRACTOR_LOOKS), size)
    labelled = [(p, photo if look == "photo" else "", photo) for p, look, photo in rows]
    for path, look, photo in rows:
        if look != "photo":
            continue
        original = Image.open(path)
        for suffix, make in COPIES.items():
            copy = out / "copies" / f"{path.stem}-{suffix}"
            copy.parent.mkdir(exist_ok=True)
            make(original).save(copy, quality=25 if suffix == "q25.jpg" else 95)  # ignored by BMP/PNG
            labelled.append((copy, photo, photo))
    with open(out / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "style", "content"])
        writer.writerows([p.relative_to(out).as_posix(), style, content] for p, style, content in labelled)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--photos", type=int, default=len(PHOTOS), help="how many photos (max %(default)s)")
    parser.add_argument("--looks", default=",".join(LOOKS), help="comma-separated looks")
    parser.add_argument("--size", type=int, default=320, help="long side in pixels")
    args = parser.parse_args(argv)
    looks = tuple(args.looks.split(","))
    unknown = [look for look in looks if look not in RENDERERS]
    if unknown:
        parser.error(f"unknown looks {unknown}; known: {', '.join(RENDERERS)}")
    rows = build_grid(args.out, PHOTOS[: args.photos], looks, args.size)
    print(
        f"wrote {len(rows)} images ({args.photos} photos x {len(looks)} looks) to {args.out}", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
