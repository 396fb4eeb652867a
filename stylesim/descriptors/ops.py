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
        with torch.autocast(a.device.type, enabled=False):  # float32 even inside an autocast region
            return torch.bmm(a.transpose(1, 2), b)
    n, p, _ = a.shape
    k = math.gcd(p, max(1, p // chunk))
    if k == 1:
        return torch.bmm(a.transpose(1, 2).float(), b.float())
    a_chunks = a.reshape(n * k, p // k, a.shape[2]).transpose(1, 2)
    partial = torch.bmm(a_chunks, b.reshape(n * k, p // k, b.shape[2]))
    return partial.view(n, k, *partial.shape[1:]).float().sum(dim=1)


STATISTICS_CHUNK = 64  # positions per partial sum of bf16 activations (``sum_over_positions``)
SHIFT_STRIDE = 16  # every 16th position gives ``channel_mean_std`` its shift


def channel_mean_std(feature: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, sigma) of each channel over space: (N, C, H, W) -> two (N, C) tensors (eq. 5-6).

    Computed about a shift s near mu (the mean of every SHIFT_STRIDE-th position, held
    constant), with matrix products over the positions (``sum_over_positions``: float32 sums
    whatever the activations' dtype):

        mu      = s + E[F - s]
        sigma^2 = E[(F - s)^2] - (E[F - s])^2

    exact for any s. Without the shift (sigma^2 = E[F^2] - mu^2) a flat channel, sigma << mu as
    in a crop of sky or of a white canvas, loses sigma entirely to the bfloat16 rounding of F^2
    (2^-9 of mu^2), which made AdaIN divide by ~0 under autocast."""
    f = flatten_spatial(feature)
    positions = f.shape[1]
    shift = f[:, ::SHIFT_STRIDE].detach().float().mean(dim=1).to(f.dtype)
    centred = f - shift[:, None, :]
    ones = torch.ones((f.shape[0], positions, 1), dtype=centred.dtype, device=f.device)
    first = sum_over_positions(ones, centred, STATISTICS_CHUNK).squeeze(1) / positions
    second = sum_over_positions(ones, centred * centred, STATISTICS_CHUNK).squeeze(1) / positions
    return shift.float() + first, ((second - first * first).clamp_min(0) + eps).sqrt()


GRAM_CHUNK = 512  # positions per partial Gram matrix of bf16 activations (``sum_over_positions``)


def gram_matrix(feature: torch.Tensor) -> torch.Tensor:
    """G = F F^T / (H W) for a batch (N, C, H, W) -> (N, C, C), summed in float32."""
    f = flatten_spatial(feature)
    return sum_over_positions(f, f, GRAM_CHUNK) / f.shape[1]


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


def gram_vector(features: dict[str, torch.Tensor], layers: tuple[str, ...]) -> torch.Tensor:
    """The uncompressed vector v above (N, sum_l C_l (C_l + 1) / 2), unit length."""
    parts = []
    for layer in layers:
        p = signed_sqrt(gram_matrix(features[layer]))
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
    """(N, H, W, 3) or (H, W, 3) uint8 RGB -> (N, bins**3) float32 sqrt-histograms (unit length),
    each pixel counted once or by ``weights`` (N, H, W)."""
    x = torch.as_tensor(pixels)
    if x.ndim == 3:
        x = x.unsqueeze(0)
    q = (x.long() * bins) // 256
    codes = ((q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]).flatten(1)
    counts = torch.ones_like(codes, dtype=torch.float32) if weights is None else weights.flatten(1).float()
    hist = torch.zeros(codes.shape[0], bins**3, dtype=torch.float32, device=codes.device)
    hist.scatter_add_(1, codes, counts.to(codes.device))
    return (hist / hist.sum(dim=1, keepdim=True).clamp_min(1e-12)).sqrt()


PLAIN_TOLERANCE = 24  # 8-bit levels: a pixel this close to the background colour in every channel is canvas
PLAIN_BORDER_SHARE = 0.5  # of the border pixels within PLAIN_TOLERANCE of their median: a plain canvas
MIN_FOREGROUND_SHARE = 0.01  # less foreground than this: the picture is all canvas, every pixel counts
FLAT_STEP = 2  # 8-bit levels: neighbouring border pixels this close in every channel are a flat stretch
FLAT_BORDER_FROM = 0.5  # share of flat border steps from which a canvas starts to count as one (1: fully)


def foreground_mask(
    pixels: torch.Tensor, plain_border_share: float = PLAIN_BORDER_SHARE, tolerance: int = PLAIN_TOLERANCE
) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, H, W) float32: 1 where a pixel is further than ``tolerance``
    from the background colour b (the per-channel median of the border pixels) in some channel;
    all ones for a picture whose border is not at least ``plain_border_share`` within tolerance
    of b (no plain canvas) or whose foreground would be under MIN_FOREGROUND_SHARE."""
    x = pixels.to(torch.int16)
    border = torch.cat([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], dim=1)  # (N, B, 3)
    background = border.median(dim=1).values  # (N, 3)
    plain = (border - background[:, None]).abs().amax(dim=2).le(tolerance).float().mean(dim=1)
    mask = (x - background[:, None, None]).abs().amax(dim=3).gt(tolerance).float()
    keep = plain.ge(plain_border_share) & mask.mean(dim=(1, 2)).ge(MIN_FOREGROUND_SHARE)
    return torch.where(keep[:, None, None], mask, torch.ones_like(mask))


def flat_border(pixels: torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) -> (N,) the share of steps between neighbouring pixels along each side of
    the border that stay within FLAT_STEP levels in every channel (1 for paper, a flat fill or a
    scanned page's margin; well under 1 for a texture, a painted sky, a photo's edge)."""
    x = pixels.to(torch.int16)
    sides = (x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1])  # (N, L, 3) each
    steps = torch.cat([(s[:, 1:] - s[:, :-1]).abs().amax(dim=2) for s in sides], dim=1)
    return steps.le(FLAT_STEP).float().mean(dim=1)


def canvas_at_most_foreground(
    pixels: torch.Tensor,
    plain_border_share: float = PLAIN_BORDER_SHARE,
    tolerance: int = PLAIN_TOLERANCE,
    flat_from: float | None = None,
) -> torch.Tensor:
    """(N, H, W) pixel weights w = m + (1 - m) (t min(1, s / (1 - s)) + 1 - t), m the foreground
    mask (``foreground_mask`` with these arguments), s its share of the picture and t how much of
    a canvas the border makes: the plain canvas a picture is drawn on weighs at most what the
    drawing weighs (a picture that is mostly drawing is unchanged). t = 1 when ``flat_from`` is
    None; else t = clip((f - flat_from) / (1 - flat_from), 0, 1), f the border's flat share
    (``flat_border``): a fully flat border is paper, one no flatter than ``flat_from`` (a
    pattern's grain, a painted sky, a photo's edge) is no canvas and every pixel counts."""
    mask = foreground_mask(pixels, plain_border_share, tolerance)
    share = mask.mean(dim=(1, 2))
    canvas_weight = (share / (1 - share).clamp_min(1e-6)).clamp(max=1.0)
    if flat_from is not None:  # t: how far the border makes the plain colour a canvas
        canvas_likeness = ((flat_border(pixels) - flat_from) / (1 - flat_from)).clamp(0.0, 1.0)
        canvas_weight = canvas_likeness * canvas_weight + (1 - canvas_likeness)
    return mask + (1 - mask) * canvas_weight[:, None, None]
