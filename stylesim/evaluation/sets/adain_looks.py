"""A photo x AdaIN-look set: each of the grid's PHOTOS (scikit-image) rendered by the installed
AdaIN decoder (issue 14) in the style of each of STYLES artworks drawn from the ``artwork`` set's
packages (kept out of every tuning). Style label = the artwork, content label = the photo: the
grid's question (find the look, not the subject) asked of a neural style transfer's looks,
which carry the artwork's feature statistics at relu1_1..relu4_1 (Huang & Belongie 2017, eq. 8:
AdaIN(x, y) = sigma(y) (x - mu(x)) / sigma(x) + mu(y)) and the photo's layout.

It needs a decoder where ``transfer.adain.decoder_path`` looks (``$STYLESIM_ADAIN_DECODER``, or
the packaged one); without one the set is unavailable and says why (DataUnavailable).

    python -m stylesim.evaluation.sets.adain_looks OUT_DIR [--styles 8] [--size 256]

writes OUT_DIR/<artwork>/<photo>.jpg and OUT_DIR/labels.csv (path,style,content).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from stylesim.evaluation.sets.artwork import MIN_SIDE, designs, open_artwork
from stylesim.evaluation.sets.debian import DataUnavailable, write_labels
from stylesim.evaluation.sets.grid import PHOTOS, load_photo
from stylesim.transfer.adain import DecoderMissingError, adain_transfer
from stylesim.transfer.restyle import RestyleSettings, prepare_models

STYLES = 8
SIZE = 256


def artwork_styles(count: int) -> list[tuple[str, Image.Image]]:
    """(label, picture) of ``count`` designs of the ``artwork`` set, evenly spaced over its
    packages' designs so that several packages (and drawing manners) take part; where one
    cannot be used (unreadable, too small) the next unused design stands in."""
    found = [(f"{package}/{design}", path) for package, design, path in designs("artwork")]
    spaced = np.linspace(0, len(found) - 1, num=min(count, len(found))).round().astype(int).tolist()
    order = spaced + [i for i in range(len(found)) if i not in spaced]
    picked: list[tuple[str, Image.Image]] = []
    for index in order:
        label, path = found[index]
        picture = open_artwork(path)
        if picture is not None and min(picture.size) >= MIN_SIDE:
            picked.append((label, picture))
        if len(picked) == count:
            return sorted(picked, key=lambda item: item[0])
    raise DataUnavailable(f"{len(picked)} usable artworks of the {count} wanted")


def build_adain_looks(
    out: Path,
    photos: Sequence[str] = PHOTOS,
    styles: Sequence[tuple[str, Image.Image]] | None = None,
    size: int = SIZE,
    style_count: int = STYLES,
    device: str = "auto",
) -> list[tuple[Path, str, str]]:
    """Render every photo in every style (default: ``style_count`` artworks) with the installed
    decoder; returns the (path, style, content) rows it also writes to out/labels.csv.
    DataUnavailable where no decoder is installed (checked before anything is fetched)."""
    try:
        encoder, decoder = prepare_models(RestyleSettings(method="adain", device=device))
    except DecoderMissingError as err:
        raise DataUnavailable(f"the adain set renders with a decoder: {err}") from None
    assert decoder is not None
    rows: list[tuple[Path, str, str]] = []
    for label, style in styles if styles is not None else artwork_styles(style_count):
        folder = out / re.sub(r"[^A-Za-z0-9_.-]+", "_", label)
        folder.mkdir(parents=True, exist_ok=True)
        for photo in photos:
            content = Image.fromarray(load_photo(photo, size))
            target = folder / f"{photo.replace(':', '_')}.jpg"
            render = adain_transfer(encoder, decoder, content, [style], size=size, precision="fp32")
            render.save(target, quality=92)  # fp32: the same set on every machine
            rows.append((target, label, photo))
    write_labels(out, rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--styles", type=int, default=STYLES)
    parser.add_argument("--size", type=int, default=SIZE)
    args = parser.parse_args(argv)
    try:
        rows = build_adain_looks(args.out, size=args.size, style_count=args.styles)
    except DataUnavailable as err:
        print(err, file=sys.stderr)
        return 1
    print(f"wrote {len(rows)} renders and {args.out / 'labels.csv'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
