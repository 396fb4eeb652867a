"""Indexing throughput on real images, everything side by side in one run:

    bare forward   VGG19 to relu5_1 (the deepest layer the descriptors need), and again at the
                   coarse descriptor's ~96² (the second pass the index runs), on pictures already
                   decoded and resized, fp32 and bf16 (autocast), best of batch 1, 2 and 4
    end to end     ``stylesim index`` (files on disk -> committed index: decode processes,
                   device stage with every descriptor, journal writer, commit), fp32 and bf16,
                   default settings otherwise
    naive loop     the seeds' per-image loop: open, resize, forward in fp32, a Gram matrix per
                   style layer
    decode only    the decode pool (worker processes into shared memory), images/s per worker
                   process: how many cores a faster device needs to be kept fed

    python scripts/bench_index.py [--images 120] [--size 256] [--workers N] [--batch-size N] [--json out.json]

Images: the sample grid (real photos x looks, stylesim/evaluation/sets/grid.py), cycled with crops to reach
--images. Prints the machine, the rates and the ratios the goals are stated in.
"""

from __future__ import annotations

import argparse
import json
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

from stylesim import api  # noqa: E402
from stylesim.collection.decode import decode_for_encoding  # noqa: E402
from stylesim.collection.pool import DecodePool  # noqa: E402
from stylesim.collection.slots import SharedSlots, slot_bytes  # noqa: E402
from stylesim.collection.walk import walk_inputs  # noqa: E402
from stylesim.descriptors import build_descriptors  # noqa: E402
from stylesim.descriptors.extract import deepest_per_side, resized  # noqa: E402
from stylesim.descriptors.ops import gram_matrix  # noqa: E402
from stylesim.encoding import VGG19Encoder, resolve_weights  # noqa: E402
from stylesim.encoding.device import autocast, cpu_flags, frozen_in_precision  # noqa: E402
from stylesim.encoding.layers import GATYS_STYLE_LAYERS  # noqa: E402
from stylesim.encoding.preprocess import to_model_input  # noqa: E402
from stylesim.evaluation.sets.grid import build_grid


def make_images(folder: Path, n: int) -> list[Path]:
    rows = build_grid(folder / "grid", size=480)
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


def end_to_end(
    folder: Path, index: Path, size: int, precision: str, workers: int | None, batch: int | None
) -> float:
    start = time.perf_counter()
    report = api.build_index(
        [folder], index, size=size, device="cpu", precision=precision, workers=workers, batch_size=batch
    )
    return report.added / (time.perf_counter() - start)


def bare_forward(files: list[Path], size: int, precision: str, batch: int) -> float:
    """Images/s of the encoder passes the default descriptors need (at the bucket size and again
    at each descriptor's ``input_side``, each as deep as its descriptors read), on pictures
    decoded beforehand, the network's weights stored in the precision it runs in."""
    encoder = frozen_in_precision(VGG19Encoder(resolve_weights(), ("relu5_1",)), precision)
    images = [decode_for_encoding(str(p), size).pixels for p in files]
    buckets: dict[tuple[int, ...], list[np.ndarray]] = {}
    for img in images:
        buckets.setdefault(img.shape, []).append(img)
    pixels = [
        torch.as_tensor(np.stack(b[i : i + batch])) for b in buckets.values() for i in range(0, len(b), batch)
    ]
    passes = [
        (to_model_input(p if side is None else resized(p, side), encoder.preprocessing), until)
        for side, until in deepest_per_side(build_descriptors()).items()
        if until is not None
        for p in pixels
    ]
    with torch.inference_mode(), autocast(encoder.device, precision):
        encoder.forward(passes[0][0][:1])  # warm-up
        start = time.perf_counter()
        for x, until in passes:
            encoder.forward(x, until)
    return len(images) / (time.perf_counter() - start)


def naive_loop(files: list[Path], size: int) -> float:
    """One image at a time, fp32: load, resize to size x size, forward, Gram per style layer."""
    encoder = VGG19Encoder(resolve_weights(), GATYS_STYLE_LAYERS)
    start = time.perf_counter()
    for path in files:
        img = np.asarray(Image.open(path).convert("RGB").resize((size, size), Image.Resampling.BICUBIC))
        with torch.inference_mode():
            feats = encoder.encode(img)
            _ = [gram_matrix(feats[layer]) for layer in GATYS_STYLE_LAYERS]
    return len(files) / (time.perf_counter() - start)


def decode_only(folder: Path, size: int, workers: int) -> float:
    """Images/s of the decode pool alone (pictures copied out of their slots as the engine does)."""
    files = walk_inputs([folder]).files
    slots = SharedSlots(4 * workers + 8, slot_bytes(size))
    pool = DecodePool(slots, workers, size, 100_000_000)
    try:
        list(zip(range(2), pool.decode(files[:2]), strict=False))  # start the workers
        start = time.perf_counter()
        for _, decoded in pool.decode(files):
            if not isinstance(decoded, str):
                _ = slots.view(decoded.slot, decoded.shape).copy()
                pool.release(decoded.slot)
        return len(files) / (time.perf_counter() - start)
    finally:
        pool.close()
        slots.close()


def machine() -> str:
    flags = sorted(cpu_flags() & {"amx_bf16", "avx512_bf16", "avx512f", "avx2"})
    threads = torch.get_num_threads()
    cores = f"{os.cpu_count()} cores ({', '.join(flags)})"
    return f"{platform.machine()}, {cores}, torch {torch.__version__}, {threads} threads"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--size", type=int, default=api.DEFAULT_SIZE)
    parser.add_argument("--workers", type=int, default=None, help="decode processes (default: stylesim's)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: stylesim's")
    parser.add_argument("--naive-images", type=int, default=24, help="images for the (slow) naive loop")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="stylesim-bench-") as tmp_name:
        tmp = Path(tmp_name)
        files = make_images(tmp, args.images)
        for precision in ("fp32", "bf16"):
            rates[f"forward {precision}"] = max(
                bare_forward(files, args.size, precision, b) for b in (1, 2, 4)
            )
            rates[f"end to end {precision}"] = end_to_end(
                tmp / "images",
                tmp / f"index-{precision}",
                args.size,
                precision,
                args.workers,
                args.batch_size,
            )
        rates["naive loop fp32"] = naive_loop(files[: args.naive_images], args.size)
        for workers in (1, 2):
            rates[f"decode only, {workers} process{'es' if workers > 1 else ''}"] = decode_only(
                tmp / "images", args.size, workers
            )
    best = max(rates["forward fp32"], rates["forward bf16"])
    print(f"machine: {machine()}")
    print(f"{args.images} real JPEGs, encoder input ~{args.size}^2")
    for name, rate in rates.items():
        print(f"  {name:<28} {rate:7.2f} img/s")
    print(f"end to end bf16 / best bare forward = {rates['end to end bf16'] / best:.2f}")
    print(f"end to end bf16 / end to end fp32   = {rates['end to end bf16'] / rates['end to end fp32']:.2f}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"machine": machine(), "images": args.images, "size": args.size, "rates": rates}, indent=2
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
