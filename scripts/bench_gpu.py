"""Throughput on whatever device this machine has (CUDA when present, else the CPU): the same
code path as ``stylesim index``, with the device's own batch sizes.

    python scripts/bench_gpu.py [--images 400] [--device auto] [--json out.json]

Reports the device it found (name, bf16 support), the bare VGG19 forward to relu5_1 in fp32 and
bf16 at growing batch sizes, ``stylesim index`` end to end with the device's defaults, and the
decode pool's rate per worker process. On a GPU the last two say whether decoding keeps the
device fed: the device stage waits on decoding when decode rate x workers < forward rate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_index import decode_only, machine, make_images  # noqa: E402

from stylesim import api  # noqa: E402
from stylesim.encoding import VGG19Encoder, resolve_device, resolve_weights  # noqa: E402
from stylesim.encoding.device import autocast, bf16_is_fast, default_batch_size, default_decode_workers  # noqa: E402


def device_facts(device: torch.device) -> dict[str, Any]:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        memory = f"{props.total_memory / 2**30:.0f} GiB"
        name = f"{props.name}, {memory}, compute capability {props.major}.{props.minor}"
    else:
        name = machine()
    return {"device": str(device), "name": name, "bf16_units": bf16_is_fast(device), "cores": os.cpu_count()}


def forward_rate(encoder: VGG19Encoder, precision: str, batch: int, seconds: float = 5.0) -> float:
    """Images/s of VGG19 to relu5_1 at 256 x 256 on random input already on the device."""
    x = torch.randn(batch, 3, 256, 256, device=encoder.device).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), autocast(encoder.device, precision):
        for _ in range(3):
            encoder.forward(x)
        sync(encoder.device)
        start, done = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            encoder.forward(x)
            done += batch
        sync(encoder.device)
    return done / (time.perf_counter() - start)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    facts: dict[str, Any] = device_facts(device)
    encoder = VGG19Encoder(resolve_weights(), ("relu5_1",), device)
    batches = (1, 2, 4) if device.type == "cpu" else (8, 32, 64, 128)
    for precision in ("fp32", "bf16"):
        facts[f"forward {precision}"] = {b: forward_rate(encoder, precision, b) for b in batches}
    with tempfile.TemporaryDirectory(prefix="stylesim-bench-gpu-") as tmp_name:
        tmp = Path(tmp_name)
        make_images(tmp, args.images)
        start = time.perf_counter()
        report = api.build_index([tmp / "images"], tmp / "index", device=str(device))
        facts["end to end (defaults)"] = report.added / (time.perf_counter() - start)
        workers = default_decode_workers(device)
        facts["decode workers"] = workers
        facts["decode only, per worker"] = decode_only(tmp / "images", 256, workers) / workers
    facts["batch size"] = default_batch_size(device)
    print(json.dumps(facts, indent=2))
    if args.json:
        args.json.write_text(json.dumps(facts, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
