"""Colour preservation for style transfer (Gatys, Bethge, Hertzmann & Shechtman 2016,
"Preserving Color in Neural Artistic Style Transfer"). Images are float RGB in [0, 1],
shape (N, 3, H, W).

``luminance``: transfer the style, then keep only the result's luminance and take the colour
(chroma) from the content image, in YIQ space (the paper's sec. 2.2, applied to the result).

``stats``: before the transfer, recolour the style image so that its pixels have the content
image's mean and covariance (sec. 2.1): x' = A (x - mu_s) + mu_c with
A = Sigma_c^{1/2} Sigma_s^{-1/2} (the "image analogies" matrix square root variant).
"""

from __future__ import annotations

import torch

PRESERVE_METHODS = ("luminance", "stats")

# NTSC YIQ (FCC 1953 coefficients).
_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB -> YIQ."""
    return torch.einsum("ij,njhw->nihw", _RGB_TO_YIQ.to(image), image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) YIQ -> RGB (exact inverse of ``rgb_to_yiq``)."""
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(_RGB_TO_YIQ.double()).to(image), image)


def keep_luminance(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The result's luminance Y with the content's chroma I, Q (same shape), clamped to [0, 1]."""
    if result.shape != content.shape:
        raise ValueError(f"shapes differ: {tuple(result.shape)} vs {tuple(content.shape)}")
    y = rgb_to_yiq(result)[:, :1]
    iq = rgb_to_yiq(content)[:, 1:]
    return yiq_to_rgb(torch.cat([y, iq], dim=1)).clamp(0, 1)


def _mean_cov(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = image.reshape(3, -1).double()
    mean = x.mean(dim=1, keepdim=True)
    centred = x - mean
    return mean, centred @ centred.T / x.shape[1]


def _sqrtm(matrix: torch.Tensor, inverse: bool = False, eps: float = 1e-5) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    values = values.clamp_min(eps)
    root: torch.Tensor = vectors @ torch.diag(values.rsqrt() if inverse else values.sqrt()) @ vectors.T
    return root


def match_colour_statistics(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """``style`` recoloured so its pixels' mean and covariance are the content's (one image
    each, (1, 3, H, W)); clamped to [0, 1]."""
    mu_s, cov_s = _mean_cov(style)
    mu_c, cov_c = _mean_cov(content)
    a = _sqrtm(cov_c) @ _sqrtm(cov_s, inverse=True)
    x = style.reshape(3, -1).double()
    out = a @ (x - mu_s) + mu_c
    return out.reshape(style.shape).to(style.dtype).clamp(0, 1)
