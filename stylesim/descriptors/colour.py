"""Colour-histogram descriptor (pixel level, no network). Part of the ``style`` fusion (colour
palette is part of a look) and the baseline that style retrieval has to beat.

    h      = joint RGB histogram, ``bins`` levels per channel, normalised to sum 1
    colour = sqrt(h)                  (Hellinger map: cosine of sqrt-histograms = Bhattacharyya)

The index centres it over the collection (``collection_norm = "centre"``) and L2-normalises.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from stylesim.descriptors.base import Descriptor


def colour_histogram(pixels: np.ndarray | torch.Tensor, bins: int = 8) -> torch.Tensor:
    """(N, H, W, 3) or (H, W, 3) uint8 RGB -> (N, bins**3) float32 sqrt-histograms (unit length)."""
    x = torch.as_tensor(pixels)
    if x.ndim == 3:
        x = x.unsqueeze(0)
    q = (x.long() * bins) // 256
    codes = ((q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]).flatten(1)
    hist = torch.zeros(codes.shape[0], bins**3, dtype=torch.float32, device=codes.device)
    hist.scatter_add_(1, codes, torch.ones_like(codes, dtype=torch.float32))
    return (hist / codes.shape[1]).sqrt()


class ColourDescriptor(Descriptor):
    name = "colour"
    layers: tuple[str, ...] = ()
    collection_norm = "centre"

    def __init__(self, bins: int = 8, dim: int | None = None) -> None:
        self.bins = bins
        self.dim = bins**3
        if dim is not None and dim != self.dim:
            raise ValueError(f"colour with {bins} bins has {self.dim} dimensions, not {dim}")

    def from_features(self, features: dict[str, torch.Tensor], pixels: torch.Tensor) -> torch.Tensor:
        return colour_histogram(pixels, self.bins)

    def config(self) -> dict[str, Any]:
        return {"bins": self.bins, "dim": self.dim}
