"""Does an AdaIN decoder invert the encoder? A health check of a training run (issue 14).

For each decoder file given, on held-out content crops (``~/.cache/stylesim/adain-data/eval/content``
by default, never trained on), at each crop size: the reconstruction loss

    L_rec = mean (f(g(f(c))) - f(c))^2 / E,    E = mean f(c)^2 at relu4_1

(the training's content term with AdaIN off: 1 means the output's features are as far from the
target as the target is from zero) and the pixel MSE of g(f(c)) clamped to [0, 1] against c.
With ``--fresh N`` it also trains a new decoder N iterations on reconstruction alone (random
64 px crops of the training content, batch 8, Adam 1e-4, bf16 where the CPU has the units) and
reports the same figures every N/3 iterations: what a run should at least reach.

    python scripts/probe_decoder.py training/adain/adain_decoder.pt [--fresh 300]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylesim.descriptors.adain import ADAIN_LAYERS  # noqa: E402
from stylesim.encoding import VGG19Encoder, resolve_weights  # noqa: E402
from stylesim.encoding.device import autocast, choose_precision  # noqa: E402
from stylesim.encoding.preprocess import normalise_rgb  # noqa: E402
from stylesim.transfer.adain import ADAIN_LAYER, AdaINDecoder, load_decoder  # noqa: E402
from stylesim.transfer.training import CropPool, layer_energies, training_losses  # noqa: E402

DATA = Path.home() / ".cache/stylesim/adain-data"
IMAGES = (".jpg", ".jpeg", ".png")


def images_in(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGES)


@torch.no_grad()
def reconstruction(encoder: VGG19Encoder, decoder: AdaINDecoder, batch: torch.Tensor) -> tuple[float, float]:
    """(L_rec, pixel MSE) of one batch of RGB crops in [0, 1]."""
    energies = layer_energies(encoder, batch)
    loss = float(training_losses(encoder, decoder, batch, batch, energies, 0.0, True)["content"])
    features = encoder(normalise_rgb(batch, encoder.preprocessing))[ADAIN_LAYER]
    pixels = float(((decoder(features).clamp(0, 1) - batch) ** 2).mean())
    return loss, pixels


def fresh_reference(encoder: VGG19Encoder, tests: dict[int, torch.Tensor], iterations: int) -> None:
    """Train a new decoder on reconstruction alone and report it every iterations / 3 steps."""
    pool = CropPool(images_in(DATA / "content"), 160, "content")
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    decoder = AdaINDecoder()
    optimiser = torch.optim.Adam(decoder.parameters(), lr=1e-4)
    precision, started = choose_precision(encoder.device, "auto"), time.perf_counter()
    for step in range(iterations + 1):
        if step % max(1, iterations // 3) == 0:
            report(f"fresh decoder, {step} reconstruction steps", encoder, decoder.eval(), tests)
            decoder.train()
        batch = pool.sample(8, 64, 2.5, generator)
        with autocast(encoder.device, precision):
            loss = training_losses(encoder, decoder, batch, batch, layer_energies(encoder, batch), 0.0, True)
        optimiser.zero_grad()
        torch.autograd.backward(loss["total"])
        optimiser.step()
    print(f"# {iterations} steps in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def report(name: str, encoder: VGG19Encoder, decoder: AdaINDecoder, tests: dict[int, torch.Tensor]) -> None:
    figures = [reconstruction(encoder, decoder, batch) for batch in tests.values()]
    cells = " | ".join(f"{loss:.3f} / {pixels:.4f}" for loss, pixels in figures)
    print(f"| {name} | {cells} |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("decoders", nargs="*", type=Path)
    parser.add_argument("--held-out", type=Path, default=DATA / "eval" / "content")
    parser.add_argument("--crops", default="64,128,256")
    parser.add_argument("--fresh", type=int, default=0, help="also train a new decoder this many steps")
    args = parser.parse_args()
    torch.set_num_threads(2)
    weights = resolve_weights()
    encoder = VGG19Encoder(weights, ADAIN_LAYERS)
    crops = [int(c) for c in args.crops.split(",")]
    held = CropPool(images_in(args.held_out), max(crops) + 16, "content")
    tests = {c: held.sample(4, c, 1.0, torch.Generator().manual_seed(1)) for c in crops}
    print(f"| decoder | {' | '.join(f'{c} px: L_rec / pixel MSE' for c in crops)} |")
    print(f"| --- | {' | '.join('---' for _ in crops)} |")
    for path in args.decoders:
        decoder, _ = load_decoder(path, weights.sha256)
        report(str(path), encoder, decoder.float(), tests)
    if args.fresh:
        fresh_reference(encoder, tests, args.fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
