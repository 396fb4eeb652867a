"""Where an AdaIN restyle's time goes, against the arithmetic it needs: VGG19 to relu4_1 (once for
the content, once for each style), the decoder, and the whole ``adain_transfer``, at one size, in
fp32 and (where the device has bf16 units) bf16; the multiply-accumulates each stage executes
counted (torch's FlopCounterMode), so the table also says how many GMAC/s the device sustains and
what a time goal needs.

    python scripts/bench_adain.py [--size 512] [--repeats 5] [--device auto] [--json out.json]

The decoder is an untrained one of the shipped architecture (its speed does not depend on its
weights); the photos are scikit-image's astronaut (content) and coffee (style).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_index import machine  # noqa: E402

from stylesim.encoding import VGG19Encoder, resolve_device, resolve_weights  # noqa: E402
from stylesim.encoding.device import autocast, bf16_is_fast, frozen_in_precision  # noqa: E402
from stylesim.transfer.adain import ADAIN_LAYER, AdaINDecoder, adain_transfer  # noqa: E402


def gmac(run: Callable[[], Any]) -> float:
    """Multiply-accumulates of the convolutions ``run()`` executes, in billions (the decoder's
    inference path does fewer than its layers list: ``transfer.convolutions``)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        run()
    return float(counter.get_total_flops()) / 2e9


def median_seconds(run: Callable[[], Any], repeats: int) -> float:
    run()  # warm-up: oneDNN picks its kernels on the first call
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


Stage = Callable[[str], Any]  # run once in the given precision


def stages(size: int, device: torch.device) -> dict[str, Stage]:
    """Each stage as a function of the precision."""
    from PIL import Image

    from stylesim.evaluation.sets.grid import load_photo

    encoder = VGG19Encoder(resolve_weights(), (ADAIN_LAYER,), device)
    decoder = AdaINDecoder().eval().to(device).to(memory_format=torch.channels_last)
    content, style = (Image.fromarray(load_photo(name, 512)) for name in ("astronaut", "coffee"))
    pixels = torch.rand(1, 3, size, size, device=device)
    features = torch.randn(1, 512, size // 8, size // 8, device=device)
    features = features.contiguous(memory_format=torch.channels_last)

    def under(precision: str, run: Callable[[], Any]) -> Any:
        with torch.no_grad(), autocast(device, precision):
            return run()

    def transfer(scale: float) -> Stage:
        return lambda p: adain_transfer(
            encoder, decoder, content, [style], size=size, style_scale=scale, precision=p
        )

    runs: dict[str, Stage] = {  # the networks with their weights stored as adain_transfer runs them
        "VGG19 to relu4_1 (one square image)": lambda p: under(
            p, lambda: frozen_in_precision(encoder, p).forward(pixels, until=ADAIN_LAYER)
        ),
        "decoder": lambda p: under(p, lambda: frozen_in_precision(decoder, p)(features)),
        "adain_transfer, style at full size": transfer(1.0),
        "adain_transfer, style at half size": transfer(0.5),
    }
    return runs


def measure(size: int, device: torch.device, repeats: int) -> list[dict[str, Any]]:
    runs = stages(size, device)
    work = {stage: gmac(partial(run, "fp32")) for stage, run in runs.items()}
    precisions = ["fp32", "bf16"] if bf16_is_fast(device) else ["fp32"]
    rows = []
    for precision in precisions:
        for stage, run in runs.items():
            seconds = median_seconds(partial(run, precision), repeats)
            rows.append(
                {"stage": stage, "precision": precision, "gmac": round(work[stage], 1), "seconds": seconds}
            )
            print(
                f"| {stage} | {precision} | {work[stage]:.1f} | {seconds:.3f} | {work[stage] / seconds:.0f} |"
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    print(f"machine: {machine()}, device {device}", file=sys.stderr)
    print(f"| stage at {args.size} px | precision | GMAC | seconds (median) | GMAC/s |")
    print("| --- | --- | --- | --- | --- |")
    rows = measure(args.size, device, args.repeats)
    if args.json:
        args.json.write_text(
            json.dumps({"machine": machine(), "size": args.size, "rows": rows}, indent=1) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
