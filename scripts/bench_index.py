"""Indexing throughput on real images, three ways, in one run:

    (a) ``stylesim index`` end to end: files on disk -> committed index (decode threads,
        aspect-bucketed batches, all four descriptors, journal, FAISS + parquet commit);
    (b) the bare VGG19 forward pass (to relu5_1, the deepest layer the descriptors need) on the
        same images, already decoded and resized, in batches of the same size;
    (c) the naive per-image loop of the seeds: load one file, resize, forward, one Gram matrix
        per style layer.

    python scripts/bench_index.py [--images 200] [--size 256] [--batch-size 16] [--workers 2]

Images: the sample grid (real photos x looks, scripts/sample_grid.py), cycled with crops to
reach --images. Prints img/s for each and the ratio (a)/(b).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sample_grid import build_grid  # noqa: E402

from stylesim import api  # noqa: E402
from stylesim.collection.decode import decode_for_encoding  # noqa: E402
from stylesim.descriptors.gram import gram_matrix  # noqa: E402
from stylesim.encoding import VGG19Encoder, resolve_weights  # noqa: E402
from stylesim.encoding.layers import GATYS_STYLE_LAYERS  # noqa: E402


def make_images(folder: Path, n: int) -> list[Path]:
    grid = folder / "grid"
    rows = build_grid(grid, size=480)
    paths = [p for p, _, _ in rows]
    out = folder / "images"
    out.mkdir()
    files = []
    for i in range(n):
        src: Image.Image = Image.open(paths[i % len(paths)])
        if i >= len(paths):  # distinct extra images: crops of the grid's
            w, h = src.size
            f = 0.6 + 0.3 * ((i // len(paths)) % 3) / 2
            src = src.crop((0, 0, int(w * f), int(h * f)))
        path = out / f"img{i:05d}.jpg"
        src.save(path, quality=92)
        files.append(path)
    return files


def bench_end_to_end(folder: Path, index: Path, size: int, batch_size: int, workers: int) -> float:
    start = time.perf_counter()
    report = api.build_index([folder], index, size=size, device="cpu", batch_size=batch_size, workers=workers)
    elapsed = time.perf_counter() - start
    return report.added / elapsed


def bench_bare_forward(files: list[Path], size: int, batch_size: int) -> float:
    encoder = VGG19Encoder(resolve_weights(), ("relu5_1",))
    images = [decode_for_encoding(str(p), size).pixels for p in files]
    buckets: dict[tuple[int, int], list[np.ndarray]] = {}
    for img in images:
        buckets.setdefault(img.shape[:2], []).append(img)
    batches = [
        np.stack(b[i : i + batch_size]) for b in buckets.values() for i in range(0, len(b), batch_size)
    ]
    encoder.encode(batches[0][:1])  # warm-up
    start = time.perf_counter()
    for batch in batches:
        encoder.encode(batch)
    return len(images) / (time.perf_counter() - start)


def bench_naive(files: list[Path], size: int) -> float:
    """One image at a time, fp32: load, resize to size x size, forward, Gram per style layer."""
    encoder = VGG19Encoder(resolve_weights(), GATYS_STYLE_LAYERS)
    start = time.perf_counter()
    for path in files:
        img = np.asarray(Image.open(path).convert("RGB").resize((size, size), Image.Resampling.BICUBIC))
        with torch.inference_mode():
            feats = encoder.encode(img)
            _ = [gram_matrix(feats[layer]) for layer in GATYS_STYLE_LAYERS]
    return len(files) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=84)
    parser.add_argument("--size", type=int, default=api.DEFAULT_SIZE)
    parser.add_argument("--batch-size", type=int, default=2, help="the CPU default of stylesim index")
    parser.add_argument("--workers", type=int, default=None, help="decode threads (default: stylesim's)")
    parser.add_argument("--naive-images", type=int, default=24, help="images for the (slow) naive loop")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stylesim-bench-") as tmp_name:
        tmp = Path(tmp_name)
        files = make_images(tmp, args.images)
        end_to_end = bench_end_to_end(tmp / "images", tmp / "index", args.size, args.batch_size, args.workers)
        bare = bench_bare_forward(files, args.size, args.batch_size)
        naive = bench_naive(files[: args.naive_images], args.size)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )
    print(
        f"{args.images} real JPEGs, encoder input ~{args.size}^2, batch {args.batch_size}, "
        f"{args.workers or 'default'} decode threads"
    )
    print(f"(a) stylesim index, end to end : {end_to_end:6.2f} img/s")
    print(f"(b) bare VGG19 forward (relu5_1): {bare:6.2f} img/s")
    print(f"(c) naive per-image loop       : {naive:6.2f} img/s")
    print(f"(a)/(b) = {end_to_end / bare:.2f}   (a)/(c) = {end_to_end / naive:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
