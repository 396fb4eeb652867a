"""Style statistics of the foreground only, against the same statistics of every pixel (issue 17):
is the shared background what makes icons and type hard to tell apart by style?

For every picture of a set (built and indexed once under --work, as scripts/sweep_style_levers.py
does; its index's model and network input), the background is the median colour of the border
pixels when at least half of the border is within THRESHOLD of it (a picture drawn on one
background), and the foreground the pixels further than THRESHOLD from it in some channel
(every pixel when there is no such background, or when under 1 % would remain). Per layer, with
the mask m averaged down to the layer's grid (weights w_p):

    G_w = sum_p w_p f_p f_p^T / sum_p w_p          (the Gram matrix of the foreground; w = 1: Gatys)
    mu_w, sigma_w: the weighted channel mean and standard deviation (AdaIN statistics)

    h_w = sum_p w_p e_{bin(p)} / sum_p w_p    (the colour histogram of the foreground, RGB 10 levels)

then the descriptors' power and L2 normalisation (Gram: relu3_1 + relu4_1, uncompressed; AdaIN:
relu1_1..relu4_1, each layer's [mu, sigma] unit length; colour: sqrt(h_w)). The weightings
(WEIGHTINGS), with s the picture's foreground share mean(m):
every pixel (w = 1); the foreground (w = m); the background at a quarter weight
(w = m + (1 - m) / 4: how much canvas a drawing leaves is part of its look); the background
weighing at most what the foreground weighs (w = m + (1 - m) min(1, s / (1 - s)): only a
picture that is mostly canvas changes, and it changes smoothly with s); the foreground only
when under a quarter of the picture (w = m if s < 0.25, else 1).
Scores: cosines of the vectors centred on the set's mean; style mAP@10 of each, of 0.7 Gram +
0.3 AdaIN, and of ``--by style``'s fusion (0.7 Gram + 0.3 colour, the stored content discount
and near-duplicate rule) of each weighting, beside the stored ``--by style``. One picture at a
time, in the precision this machine does fast.

    python scripts/probe_foreground.py [--sets icons,fonts,...] [--json out.json]
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sweep_fusion_sets import SETS, probe_main, set_similarities  # noqa: E402
from sweep_style_levers import DEFAULT, finished, style_map, weighted  # noqa: E402

from stylesim.api.indexes import make_extractor  # noqa: E402
from stylesim.collection.decode import decode_for_encoding  # noqa: E402
from stylesim.descriptors import ops  # noqa: E402
from stylesim.descriptors.extract import DescriptorExtractor  # noqa: E402
from stylesim.evaluation.harness import Labelled  # noqa: E402
from stylesim.index.store import IndexStore  # noqa: E402

THRESHOLD = 24  # 8-bit levels: further than this from the background colour is foreground
GRAM_LAYERS = ("relu3_1", "relu4_1")
ADAIN_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
COLOUR_LEVELS = 10


def balanced(m: np.ndarray) -> np.ndarray:
    """The background weighing at most what the foreground weighs."""
    return m + (1 - m) * min(1.0, float(m.mean()) / max(1e-6, 1 - float(m.mean())))


def sparse(m: np.ndarray) -> np.ndarray:
    """The foreground only when it is under a quarter of the picture."""
    return m if m.mean() < 0.25 else np.ones_like(m)


WEIGHTINGS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "": lambda p: np.ones(p.shape[:2], np.float32),
    ", foreground": lambda p: foreground(p, 0.5),
    ", foreground + background / 4": lambda p: foreground(p) * 0.75 + 0.25,
    ", background <= foreground": lambda p: balanced(foreground(p)),
    ", foreground under 25 %": lambda p: sparse(foreground(p)),
    ", background <= foreground, border 90 % plain": lambda p: balanced(foreground(p, 0.9)),
}


def foreground(pixels: np.ndarray, plain_border: float = 0.5) -> np.ndarray:
    """(H, W) float mask of the foreground (module docstring; a background when at least
    ``plain_border`` of the border is within THRESHOLD of its median colour)."""
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]]).astype(np.int16)
    background = np.median(border, axis=0)
    if (np.abs(border - background).max(axis=1) <= THRESHOLD).mean() < plain_border:
        return np.ones(pixels.shape[:2], np.float32)
    mask = (np.abs(pixels.astype(np.int16) - background).max(axis=2) > THRESHOLD).astype(np.float32)
    return mask if mask.mean() >= 0.01 else np.ones(pixels.shape[:2], np.float32)


def weighted_gram(f: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Upper triangle of the power- and L2-normalised G_w of (C, H, W) features."""
    c = f.shape[0]
    x, weights = f.reshape(c, -1), w.reshape(-1)
    p = ops.signed_sqrt((x * weights) @ x.T / weights.sum().clamp_min(1e-6))
    rows, cols = torch.triu_indices(c, c)
    triangle: torch.Tensor = (p / p.norm().clamp_min(1e-12))[rows, cols] * torch.where(
        rows == cols, 1.0, 2**0.5
    )
    return triangle


def weighted_statistics(f: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """[mu_w, sigma_w] of (C, H, W) features, unit length."""
    x, weights = f.reshape(f.shape[0], -1), w.reshape(-1)
    total = weights.sum().clamp_min(1e-6)
    mean = (x * weights).sum(1) / total
    spread = (((x - mean[:, None]) ** 2 * weights).sum(1) / total + 1e-5).sqrt()
    both = torch.cat([mean, spread])
    unit: torch.Tensor = both / both.norm()
    return unit


def weighted_colour(pixels: np.ndarray, w: np.ndarray) -> np.ndarray:
    """sqrt of the w-weighted joint RGB histogram of (H, W, 3) uint8 pixels."""
    q = pixels.astype(np.int64) * COLOUR_LEVELS // 256
    codes = (q[..., 0] * COLOUR_LEVELS + q[..., 1]) * COLOUR_LEVELS + q[..., 2]
    h = np.bincount(codes.ravel(), weights=w.ravel(), minlength=COLOUR_LEVELS**3)
    return np.asarray(np.sqrt(h / h.sum()), np.float32)


def picture_vectors(features: dict[str, torch.Tensor], pixels: np.ndarray) -> dict[str, np.ndarray]:
    """One picture's Gram, AdaIN and colour vectors under each weighting of its pixels."""
    out = {}
    for suffix, weighting in WEIGHTINGS.items():
        m = weighting(pixels)
        for kind, layers, statistic in (
            ("gram", GRAM_LAYERS, weighted_gram),
            ("adain", ADAIN_LAYERS, weighted_statistics),
        ):
            parts = []
            for layer in layers:
                f = features[layer][0].float()
                w = F.interpolate(torch.as_tensor(m)[None, None], size=f.shape[1:], mode="area")[0, 0]
                parts.append(statistic(f, w))
            out[kind + suffix] = torch.cat(parts).numpy() / np.sqrt(len(layers))
        out["colour" + suffix] = weighted_colour(pixels, m)
    return out


def set_vectors(extractor: DescriptorExtractor, labels: Labelled) -> tuple[dict[str, np.ndarray], float]:
    """Every picture's vectors, and the mean foreground share."""
    rows, shares = [], []
    for path in labels.paths:
        pixels = decode_for_encoding(path, 256).pixels
        mask = foreground(pixels)
        shares.append(float(mask.mean()))
        with torch.inference_mode():
            rows.append(picture_vectors(extractor.features(torch.as_tensor(pixels[None])), pixels))
    return {k: np.stack([r[k] for r in rows]) for k in rows[0]}, float(np.mean(shares))


def centred_cosines(v: np.ndarray) -> np.ndarray:
    c = v - v.mean(axis=0)
    c /= np.linalg.norm(c, axis=1, keepdims=True).clip(1e-12)
    return np.asarray(c @ c.T)


def set_scores(name: str, work: Path) -> dict[str, float] | None:
    found = set_similarities(name, work, 256)
    if found is None:
        return None
    stored, labels = found
    extractor = make_extractor(IndexStore.open(work / f"{name}-index").manifest, "cpu")
    vectors, share = set_vectors(extractor, labels)
    sims = {k: centred_cosines(v) for k, v in vectors.items()}
    scores = {"--by style (stored)": style_map(weighted(stored, DEFAULT), labels)}
    scores |= {k: style_map(s, labels) for k, s in sims.items()}
    for suffix in WEIGHTINGS:
        fused = 0.7 * sims["gram" + suffix] + 0.3 * sims["adain" + suffix]
        scores["0.7 gram + 0.3 adain" + suffix] = style_map(fused, labels)
        style = finished(0.7 * sims["gram" + suffix] + 0.3 * sims["colour" + suffix], stored)
        scores["0.7 gram + 0.3 colour, discounted" + suffix] = style_map(style, labels)
    return {"foreground share": share, **scores}


def main() -> int:
    torch.set_num_threads(2)
    return probe_main(__doc__ or "", set_scores, SETS)


if __name__ == "__main__":
    sys.exit(main())
