"""Fit the Gram sketch's whitening (``stylesim.descriptors.whitening``) on a reference collection
that no evaluation set draws on, and write it into the package.

The reference: ``--crops`` random crops (side 0.3-0.6 of the short side, 256 px, flat crops drawn
again, as the artwork sets cut them) of every picture of openclipart's clip art and Krita's
brushes and patterns among the AdaIN training data's style images (``scripts/adain_data.py``
fetches them from Debian; never gcompris-qt-data). Their Gram sketches are computed without
whitening at index size 256, centred and scaled to unit length as an index stores them, and
W is fitted with ``--alpha`` and ``--rank``.

    python scripts/fit_whitening.py [--work DIR] [--alpha 0.25] [--rank 128] [--name clipart-2026-12]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylesim.collection.decode import decode_for_encoding  # noqa: E402
from stylesim.descriptors.extract import DescriptorExtractor  # noqa: E402
from stylesim.descriptors.gram import DEFAULT_GRAM_LAYERS, GramDescriptor  # noqa: E402
from stylesim.descriptors.standardise import unit_rows  # noqa: E402
from stylesim.descriptors.whitening import WHITENING_DIR, fit_whitening  # noqa: E402
from stylesim.encoding import VGG19Encoder, choose_precision, resolve_weights  # noqa: E402
from stylesim.evaluation.sets.artwork import open_artwork, random_crop  # noqa: E402

TRAINING_PACKAGES = ("openclipart-png", "krita-data")
SOURCES = Path.home() / ".cache/stylesim/adain-data/style/sources.csv"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_views(out: Path, crops: int, seed: int = 0) -> None:
    """``crops`` random crops of every training picture under ``out``, with labels.csv."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with open(SOURCES, newline="") as f:
        sources = [r for r in csv.DictReader(f) if r["package"] in TRAINING_PACKAGES]
    for number, row in enumerate(sources):
        image = open_artwork(Path(row["source"]))
        if image is None or min(image.size) < 256:
            continue
        pictures = [random_crop(image, 256, rng) for _ in range(crops)]
        if any(p is None for p in pictures):
            continue
        for k, picture in enumerate(pictures):
            target = out / f"{number:04d}-{k}.jpg"
            picture.save(target, quality=92)  # type: ignore[union-attr]
            rows.append((target.name, f"{number:04d}"))
    with open(out / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([("path", "style"), *rows])
    log(f"{len(rows)} views of {len(rows) // crops} pictures in {out}")


def reference_views(work: Path, crops: int) -> tuple[list[Path], np.ndarray]:
    """(view files, picture number of each), written once under ``work``."""
    folder = work / "projection-views"
    if not (folder / "labels.csv").exists():
        write_views(folder, crops)
    with open(folder / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [folder / r["path"] for r in rows], np.array([int(r["style"]) for r in rows])


@torch.inference_mode()
def unwhitened_sketches(files: list[Path], batch: int = 16) -> np.ndarray:
    """Gram sketches (N, 2048) without whitening, centred and unit length as an index stores them."""
    encoder = VGG19Encoder(resolve_weights(), DEFAULT_GRAM_LAYERS)
    extractor = DescriptorExtractor(
        encoder, {"gram": GramDescriptor(whitening="")}, "luminance", choose_precision(encoder.device, "auto")
    )
    out = []
    for start in range(0, len(files), batch):
        pictures = np.stack([decode_for_encoding(str(f), 256).pixels for f in files[start : start + batch]])
        out.append(extractor.encode(extractor.to_device(pictures)).cpu().numpy())
        log(f"{min(start + batch, len(files))}/{len(files)} views encoded")
    sketches = np.concatenate(out).astype(np.float64)
    return unit_rows(sketches - sketches.mean(axis=0))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/stylesim-sets"))
    parser.add_argument("--crops", type=int, default=4)
    parser.add_argument("--alpha", type=float, default=0.25)
    parser.add_argument("--rank", type=int, default=128)
    parser.add_argument("--name", default="clipart-2026-12")
    args = parser.parse_args()
    files, pictures = reference_views(args.work, args.crops)
    about = {
        "layers": list(DEFAULT_GRAM_LAYERS), "dim": 2048, "seed": 0, "image_size": 256,
        "reference": f"{len(files)} crops of {len(set(pictures))} pictures of {', '.join(TRAINING_PACKAGES)}",
    }  # fmt: skip
    whitening = fit_whitening(unwhitened_sketches(files), args.alpha, args.rank, about)
    WHITENING_DIR.mkdir(exist_ok=True)
    target = WHITENING_DIR / f"{args.name}.npz"
    target.write_bytes(whitening.to_bytes())
    log(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB): {whitening.about}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
