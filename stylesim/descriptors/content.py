"""Content descriptor: *where* the deep features fire, with their style statistics removed.

AdaIN's observation (Huang & Belongie 2017) is that the channel means and standard deviations
of VGG features carry the style. Instance normalisation removes exactly those, leaving the
spatial pattern of each channel, which is what the picture shows and where:

    F^_c   = (F_c - mu_c(F)) / sigma_c(F)                  (AdaIN eq. 8 without the target)
    A      = average-pool F^ to a g x g grid               (coarse layout, C * g^2 numbers)
    a^l    = sign(A) sqrt(|A|) / ||.||                     (power + L2 normalisation)
    content = CountSketch([a^1..a^L] / sqrt(L)) / ||.||

A restyled image keeps the layout of its objects, so its content vector barely moves, while a
different photo in the same style does not share it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from stylesim.descriptors.adain import channel_mean_std
from stylesim.descriptors.base import Descriptor, l2_normalise, signed_sqrt
from stylesim.descriptors.sketch import CountSketch
from stylesim.encoding.layers import layer_channels

DEFAULT_CONTENT_LAYERS: tuple[str, ...] = ("relu4_2", "relu5_1")


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


class ContentDescriptor(Descriptor):
    name = "content"

    def __init__(
        self,
        layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS,
        grid: int = 4,
        dim: int = 2048,
        seed: int = 1,
    ) -> None:
        self.layers = tuple(layers)
        self.grid = grid
        self.full_dim = sum(layer_channels(layer) for layer in self.layers) * grid * grid
        self.dim = dim if 0 < dim < self.full_dim else self.full_dim
        self.seed = seed
        self._sketch = CountSketch(self.full_dim, self.dim, seed) if self.dim < self.full_dim else None

    def from_features(self, features: dict[str, torch.Tensor], pixels: torch.Tensor) -> torch.Tensor:
        v = content_vector(features, self.layers, self.grid)
        if self._sketch is not None:
            v = self._sketch(v)
        return l2_normalise(v)

    def config(self) -> dict[str, Any]:
        return {
            "layers": list(self.layers),
            "grid": self.grid,
            "dim": self.dim,
            "seed": self.seed,
        }
