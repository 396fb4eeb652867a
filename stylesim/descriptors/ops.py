"""The tensor computations behind the descriptors (torch): the descriptor classes
(``descriptors.gram``, ``.adain``, ``.content``, ``.colour``) say what a vector is, with its
formula, and import this module only when they compute one, so that opening or searching an
index needs no torch.

Statistics of bfloat16 activations (a network run under autocast) are summed in float32
(``sum_over_positions``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from stylesim.encoding.layers import layer_channels


def l2_normalise(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """x / ||x||_2 along the last axis (zero vectors stay zero)."""
    norm: torch.Tensor = x.norm(dim=-1, keepdim=True)
    return x / norm.clamp_min(eps)


def signed_sqrt(x: torch.Tensor) -> torch.Tensor:
    """sign(x) * sqrt(|x|), the element-wise power normalisation of Lin & Maji 2017, sec. 3."""
    return x.sign() * x.abs().sqrt()


def flatten_spatial(feature: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H*W, C) positions x channels, in the activations' own dtype: a view,
    without copying, of the encoder's channels-last activations."""
    n, c, h, w = feature.shape
    return feature.permute(0, 2, 3, 1).reshape(n, h * w, c)


def sum_over_positions(a: torch.Tensor, b: torch.Tensor, chunk: int) -> torch.Tensor:
    """sum_p a_p^T b_p for (N, P, A) and (N, P, B) -> (N, A, B) float32.

    float32 inputs: one float32 product. bfloat16 inputs (activations of a network run under
    autocast): the positions are cut into chunks of ``chunk``; each chunk is summed by a bf16
    matrix product (float32 accumulation, the result rounded to bf16 once) and the chunk sums
    are added in float32, so the rounding errors of the chunks (2^-9 relative each) average out
    instead of landing on the total. 5-15x faster than converting the activations to float32
    first, and within 2e-4 of it (docs/performance.md)."""
    if a.dtype == torch.float32 and b.dtype == torch.float32:
        return torch.bmm(a.transpose(1, 2), b)
    n, p, _ = a.shape
    k = math.gcd(p, max(1, p // chunk))
    if k == 1:
        return torch.bmm(a.transpose(1, 2).float(), b.float())
    a_chunks = a.reshape(n * k, p // k, a.shape[2]).transpose(1, 2)
    partial = torch.bmm(a_chunks, b.reshape(n * k, p // k, b.shape[2]))
    return partial.view(n, k, *partial.shape[1:]).float().sum(dim=1)


STATISTICS_CHUNK = 64  # positions per partial sum of bf16 activations (``sum_over_positions``)


def channel_mean_std(
    feature: torch.Tensor, eps: float = 1e-5, weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, sigma) of each channel over space: (N, C, H, W) -> two (N, C) tensors (eq. 5-6);
    with pixel ``weights`` (N, H0, W0) the weighted moments, mu = sum_p w_p F_p / sum_p w_p
    (``weights_at``).

    Computed as first and second moments, sigma^2 = E[F^2] - mu^2, with matrix products over the
    positions (``sum_over_positions``: faster than a strided variance on channels-last
    activations, and float32 sums whatever the activations' dtype; ReLU features have mu and
    sigma of one magnitude, so no cancellation)."""
    f = flatten_spatial(feature)
    if weights is None:
        w = torch.ones((f.shape[0], f.shape[1], 1), dtype=f.dtype, device=f.device)
        total = torch.full((f.shape[0], 1), float(f.shape[1]), device=f.device)
    else:
        w, total = weights_at(weights, feature)
        total = total.squeeze(2)
    mean = sum_over_positions(w, f, STATISTICS_CHUNK).squeeze(1) / total
    second = sum_over_positions(w, f * f, STATISTICS_CHUNK).squeeze(1) / total
    return mean, ((second - mean * mean).clamp_min(0) + eps).sqrt()


GRAM_CHUNK = 512  # positions per partial Gram matrix of bf16 activations (``sum_over_positions``)


def gram_matrix(feature: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """G = F F^T / (H W) for a batch (N, C, H, W) -> (N, C, C), summed in float32; with pixel
    ``weights`` (N, H0, W0) G_w = sum_p w_p f_p f_p^T / sum_p w_p (``weights_at``)."""
    f = flatten_spatial(feature)
    if weights is None:
        return sum_over_positions(f, f, GRAM_CHUNK) / f.shape[1]
    w, total = weights_at(weights, feature)
    return sum_over_positions(f * w, f, GRAM_CHUNK) / total


def weights_at(weights: torch.Tensor, feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel weights (N, H0, W0) averaged down to a layer's grid: (N, h w, 1) in the layer's
    dtype, and their sums (N, 1, 1) in float32."""
    w = F.interpolate(weights[:, None].float(), size=feature.shape[2:], mode="area").flatten(1)[..., None]
    return w.to(feature.dtype), w.sum(dim=1, keepdim=True).clamp_min(1e-6)


FOREGROUND_THRESHOLD = 24  # 8-bit levels: further than this from the background colour is foreground
FOREGROUND_MIN_SHARE = 0.01  # a picture with less foreground than this is treated as all foreground


def foreground_weights(pixels: torch.Tensor, background_weight: float) -> torch.Tensor:
    """(N, H, W, 3) uint8 RGB -> (N, H, W) float32 weights: 1 on a picture's foreground,
    ``background_weight`` on its background, 1 everywhere in a picture without one.

    The background colour b is the per-channel median of the border pixels; a picture has a
    background when at least half of its border is within FOREGROUND_THRESHOLD of b in every
    channel (drawn on one colour: icons, type, scans, product shots), and its background is then
    every pixel within that distance of b; a picture whose foreground would be under
    FOREGROUND_MIN_SHARE of its pixels keeps weight 1 everywhere."""
    x = torch.as_tensor(pixels)
    x = (x.unsqueeze(0) if x.ndim == 3 else x).to(torch.int16)
    border = torch.cat([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], dim=1)  # (N, 2W + 2H, 3)
    background = border.float().median(dim=1).values.to(torch.int16)  # (N, 3)
    near = (border - background[:, None]).abs().amax(dim=2) <= FOREGROUND_THRESHOLD
    foreground = (x - background[:, None, None]).abs().amax(dim=3) > FOREGROUND_THRESHOLD
    drawn = (near.float().mean(dim=1) >= 0.5) & (foreground.float().mean(dim=(1, 2)) >= FOREGROUND_MIN_SHARE)
    weights = torch.where(foreground, 1.0, background_weight)
    return torch.where(drawn[:, None, None], weights, torch.ones_like(weights))


class _UpperTriangle:
    """Vectorises a symmetric C x C matrix as its upper triangle, off-diagonals times sqrt(2)."""

    def __init__(self, channels: int) -> None:
        self.rows, self.cols = torch.triu_indices(channels, channels)
        self.weight = torch.where(self.rows == self.cols, 1.0, math.sqrt(2.0))
        self.on_device: dict[torch.device, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def __call__(self, m: torch.Tensor) -> torch.Tensor:
        if m.device not in self.on_device:  # moved once per device, not once per batch
            self.on_device[m.device] = (
                self.rows.to(m.device),
                self.cols.to(m.device),
                self.weight.to(m.device),
            )
        rows, cols, weight = self.on_device[m.device]
        return m[:, rows, cols] * weight


def gram_vector(
    features: dict[str, torch.Tensor], layers: tuple[str, ...], weights: torch.Tensor | None = None
) -> torch.Tensor:
    """The uncompressed vector v above (N, sum_l C_l (C_l + 1) / 2), unit length, of the
    (pixel-``weights``-weighted, ``gram_matrix``) Gram matrices of ``layers``."""
    parts = []
    for layer in layers:
        p = signed_sqrt(gram_matrix(features[layer], weights))
        p = p / p.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)
        parts.append(_triangle(layer_channels(layer))(p))
    return torch.cat(parts, dim=1) / math.sqrt(len(layers))


_TRIANGLES: dict[int, _UpperTriangle] = {}


def _triangle(channels: int) -> _UpperTriangle:
    if channels not in _TRIANGLES:
        _TRIANGLES[channels] = _UpperTriangle(channels)
    return _TRIANGLES[channels]


def instance_normalise(feature: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """(F - mu_c) / sigma_c per image and channel (removes the AdaIN style statistics)."""
    mean, std = channel_mean_std(feature, eps)
    return (feature.float() - mean[..., None, None]) / std[..., None, None]


def content_vector(features: dict[str, torch.Tensor], layers: tuple[str, ...], grid: int) -> torch.Tensor:
    """The uncompressed content vector (N, sum_l C_l * grid^2), unit length."""
    parts = []
    for layer in layers:
        pooled = F.adaptive_avg_pool2d(instance_normalise(features[layer]), grid).flatten(1)
        parts.append(l2_normalise(signed_sqrt(pooled)))
    return torch.cat(parts, dim=1) / math.sqrt(len(layers))


def colour_histogram(
    pixels: np.ndarray | torch.Tensor, bins: int = 8, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """(N, H, W, 3) or (H, W, 3) uint8 RGB -> (N, bins**3) float32 sqrt-histograms (unit length);
    with pixel ``weights`` (N, H, W) each pixel counts w_p, h = sum_p w_p e_bin(p) / sum_p w_p."""
    x = torch.as_tensor(pixels)
    if x.ndim == 3:
        x = x.unsqueeze(0)
    q = (x.long() * bins) // 256
    codes = ((q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]).flatten(1)
    counts = torch.ones_like(codes, dtype=torch.float32) if weights is None else weights.flatten(1).float()
    hist = torch.zeros(codes.shape[0], bins**3, dtype=torch.float32, device=codes.device)
    hist.scatter_add_(1, codes, counts)
    return (hist / counts.sum(dim=1, keepdim=True)).sqrt()
