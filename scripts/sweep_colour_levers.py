"""Colour descriptors for ``--by style`` that know more about a palette (issue 17), each judged
alone and inside the fusion, with every fusion weighting on a 0.1 grid, on every built-in set.

Each variant is a histogram h of the picture's pixels (the picture as the index sees it, long
side 256), Hellinger-mapped and centred on the set as the index does (colour = sqrt(h) - mean,
then L2-normalised):

- ``rgb<b>``: joint RGB histogram, b levels per channel (b^3 bins; today's colour is rgb8);
- ``rgb8, soft``: the same with trilinear soft assignment to the bin centres;
- ``hsv<h>x<s>x<v>``: joint hue x saturation x value histogram (PIL's HSV); ``, grey``: the
  pixels of the lowest saturation bin all counted under one hue (their hue is noise);
- ``lab<l>x<ab>``: joint CIELAB histogram, L* in l bins over 0..100 and a*, b* in ab bins
  each over -64..64 (beyond is clipped to the end bins);
- ``cooccurrence``: joint histogram of the colours (27 levels) of pixel pairs 4 px apart,
  horizontally and vertically: which colours sit next to which;
- ``rgb10, foreground`` / ``, background <= foreground``: today's histogram with the pixels
  weighted as ``scripts/probe_foreground.py`` weighs them (the plain background a picture is
  drawn on left out, or weighing at most what the foreground weighs), the colour alone: the
  Gram matrices and AdaIN statistics stay as stored.

Inside the fusion the variant replaces the stored colour cosines; gram, adain and content stay
as stored; the content discount and the near-duplicate rule apply as in ``--by style``.

    python scripts/sweep_colour_levers.py [--sets grid,...] [--unseen artwork] [--variants 'a;b']
        [--json out.json]

The weights are chosen by the mean (and worst set) over --sets; --unseen sets are only reported.
Sets and indexes are built once under --work (default /var/tmp/stylesim-sets) and reused.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval_retrieval import log  # noqa: E402
from sweep_fusion_sets import SETS, set_similarities  # noqa: E402
from sweep_style_levers import DEFAULT, Sims, style_map, weighted  # noqa: E402

from stylesim.descriptors import ops  # noqa: E402
from stylesim.evaluation.harness import Labelled, centred_cosine  # noqa: E402

SIDE = 256
Histogram = Callable[[np.ndarray], np.ndarray]


def pixels_of(path: str) -> np.ndarray:
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    rgb.thumbnail((SIDE, SIDE), Image.Resampling.BILINEAR)
    return np.asarray(rgb)


def hellinger(codes: np.ndarray, bins: int, weights: np.ndarray | None = None) -> np.ndarray:
    """sqrt of the normalised histogram of integer ``codes`` in [0, bins)."""
    h = np.bincount(codes.ravel(), weights=None if weights is None else weights.ravel(), minlength=bins)
    root: np.ndarray = np.sqrt(h / h.sum())
    return root


def joint(channels: list[np.ndarray], levels: tuple[int, ...]) -> np.ndarray:
    """Hellinger histogram of integer channels already quantised to ``levels``."""
    codes = np.zeros(channels[0].shape, np.int64)
    for channel, n in zip(channels, levels, strict=True):
        codes = codes * n + channel
    return hellinger(codes, int(np.prod(levels)))


def rgb(bins: int) -> Histogram:
    return lambda x: joint([(x[..., i].astype(np.int64) * bins) // 256 for i in range(3)], (bins,) * 3)


def rgb_weighted(bins: int, weighting: Callable[[torch.Tensor], torch.Tensor]) -> Histogram:
    """The index's RGB histogram (``ops.colour_histogram``) with each pixel counted by
    ``weighting`` ((N, H, W, 3) uint8 -> (N, H, W) weights; the shipped ``ops`` functions)."""

    def histogram(x: np.ndarray) -> np.ndarray:
        pixels = torch.from_numpy(np.ascontiguousarray(x))[None]
        return np.asarray(ops.colour_histogram(pixels, bins, weighting(pixels))[0].numpy())

    return histogram


def foreground_only(pixels: torch.Tensor) -> torch.Tensor:
    return ops.foreground_mask(pixels)


def foreground_only_on_a_plainer_border(pixels: torch.Tensor) -> torch.Tensor:
    """The foreground mask with a canvas only where 90 % of the border has its colour."""
    return ops.foreground_mask(pixels, plain_border_share=0.9)


def rgb_soft(bins: int) -> Histogram:
    def histogram(x: np.ndarray) -> np.ndarray:
        f = x.astype(np.float64) / 256 * bins - 0.5
        low = np.floor(f).astype(np.int64)
        frac = f - low
        total = np.zeros(bins**3)
        for corner in itertools.product((0, 1), repeat=3):
            index = [np.clip(low[..., i] + corner[i], 0, bins - 1) for i in range(3)]
            weight = np.prod([frac[..., i] if corner[i] else 1 - frac[..., i] for i in range(3)], axis=0)
            total += hellinger((index[0] * bins + index[1]) * bins + index[2], bins**3, weight) ** 2
        root: np.ndarray = np.sqrt(total / total.sum())
        return root

    return histogram


def hsv(h: int, s: int, v: int, grey: bool = False) -> Histogram:
    def histogram(x: np.ndarray) -> np.ndarray:
        planes = np.asarray(Image.fromarray(x).convert("HSV")).astype(np.int64)
        q = [(planes[..., i] * n) // 256 for i, n in enumerate((h, s, v))]
        if grey:  # the least saturated pixels' hue is noise (JPEG shifts it at will): one hue
            q[0] = np.where(q[1] == 0, 0, q[0])
        return joint(q, (h, s, v))

    return histogram


def lab(lightness: int, ab: int, reach: float = 64.0) -> Histogram:
    def histogram(x: np.ndarray) -> np.ndarray:
        from skimage.color import rgb2lab

        planes = rgb2lab(x)
        l_star = np.clip((planes[..., 0] / 100 * lightness).astype(np.int64), 0, lightness - 1)
        chroma = [
            np.clip(((planes[..., i] + reach) / (2 * reach) * ab).astype(np.int64), 0, ab - 1) for i in (1, 2)
        ]
        return joint([l_star, *chroma], (lightness, ab, ab))

    return histogram


def cooccurrence(levels: int = 3, step: int = 4) -> Histogram:
    def histogram(x: np.ndarray) -> np.ndarray:
        q = (x.astype(np.int64) * levels) // 256
        c = (q[..., 0] * levels + q[..., 1]) * levels + q[..., 2]
        n = levels**3
        pairs = np.concatenate([(c[:-step] * n + c[step:]).ravel(), (c[:, :-step] * n + c[:, step:]).ravel()])
        h = np.bincount(pairs, minlength=n * n).reshape(n, n).astype(np.float64)
        root: np.ndarray = np.sqrt(((h + h.T) / (2 * h.sum())).ravel())
        return root

    return histogram


VARIANTS: dict[str, Histogram] = {
    "rgb8 (the first default)": rgb(8),
    "rgb8, soft": rgb_soft(8),
    "rgb6": rgb(6),
    "rgb10": rgb(10),
    "rgb12": rgb(12),
    "hsv16x4x4": hsv(16, 4, 4),
    "hsv16x8x8": hsv(16, 8, 8),
    "hsv16x8x8, grey": hsv(16, 8, 8, grey=True),
    "lab8x8": lab(8, 8),
    "lab10x10": lab(10, 10),
    "cooccurrence": cooccurrence(),
    "rgb10, foreground": rgb_weighted(10, foreground_only),
    "rgb10, foreground, border 90 % plain": rgb_weighted(10, foreground_only_on_a_plainer_border),
    "rgb10, background <= foreground": rgb_weighted(10, ops.canvas_at_most_foreground),
}
WEIGHTS = [(g / 10, a / 10, round(1 - g / 10 - a / 10, 1)) for g in range(11) for a in range(11 - g)]


def variant_sims(labels: Labelled, variants: list[str]) -> dict[str, np.ndarray]:
    pictures = [pixels_of(p) for p in labels.paths]
    return {v: centred_cosine(np.stack([VARIANTS[v](x) for x in pictures])) for v in variants}


PerSet = dict[str, tuple[Sims, Labelled, dict[str, np.ndarray]]]
Result = dict[str, dict[str, Any]]  # set -> {"alone": mAP, "fused": {weights: mAP}}


def scores(per_set: PerSet, variant: str) -> Result:
    """Per set: the variant alone, fused at today's weights, and fused at every weighting."""
    out: Result = {}
    for name, (sims, labels, colours) in per_set.items():
        alt = {**sims, "colour": colours[variant]}
        out[name] = {
            "alone": style_map(colours[variant], labels),
            "fused": {",".join(f"{w:g}" for w in ws): style_map(weighted(alt, ws), labels) for ws in WEIGHTS},
        }
    return out


def summary(result: Result, chosen_on: list[str]) -> tuple[str, float, float, str, float]:
    """(best weights by mean, that mean, its worst set, best weights by worst set, that worst)
    over the sets ``chosen_on``."""
    keys = list(next(iter(result.values()))["fused"])
    by = {k: [result[s]["fused"][k] for s in chosen_on] for k in keys}
    best_mean = max(keys, key=lambda k: (np.mean(by[k]), min(by[k])))
    best_worst = max(keys, key=lambda k: (min(by[k]), np.mean(by[k])))
    return best_mean, float(np.mean(by[best_mean])), min(by[best_mean]), best_worst, min(by[best_worst])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", default=f"{SETS},wallpapers")
    parser.add_argument("--unseen", default="artwork")
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/stylesim-sets"))
    parser.add_argument("--variants", default=";".join(VARIANTS), help="names of VARIANTS, separated by ';'")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    chosen_on, unseen = args.sets.split(","), [s for s in args.unseen.split(",") if s]
    variants = [v.strip() for v in args.variants.split(";")]
    if unknown := [v for v in variants if v not in VARIANTS]:
        raise SystemExit(f"--variants: no variant {unknown[0]!r} (known: {', '.join(VARIANTS)})")
    per_set = {}
    for name in [*chosen_on, *unseen]:
        log(f"== {name}")
        found = set_similarities(name, args.work, SIDE)
        if found is not None:
            per_set[name] = (*found, variant_sims(found[1], variants))
    chosen_on = [s for s in chosen_on if s in per_set]
    today = ",".join(f"{w:g}" for w in DEFAULT)
    results = {variant: scores(per_set, variant) for variant in variants}
    print(f"variant | weights | mean | worst | {' | '.join(per_set)}")
    for variant, result in results.items():
        best_mean, _, _, best_worst, _ = summary(result, chosen_on)
        print(f"{variant}, alone | - | " + row([result[s]["alone"] for s in per_set], chosen_on, per_set))
        for key in dict.fromkeys((today, best_mean, best_worst)):
            print(
                f"{variant} | {key} | " + row([result[s]["fused"][key] for s in per_set], chosen_on, per_set)
            )
    if args.json:
        report = {"chosen_on": chosen_on, "unseen": unseen, "style mAP@10": results}
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


def row(values: list[float], chosen_on: list[str], per_set: PerSet) -> str:
    """``mean | worst | each set`` (mean and worst over the sets chosen on)."""
    chosen = [v for v, s in zip(values, per_set, strict=True) if s in chosen_on]
    return f"{np.mean(chosen):.3f} | {min(chosen):.3f} | " + " | ".join(f"{v:.3f}" for v in values)


if __name__ == "__main__":
    sys.exit(main())
