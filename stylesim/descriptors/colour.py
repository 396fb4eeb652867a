"""Colour-histogram descriptor (pixel level, no network). Part of the ``style`` fusion (colour
palette is part of a look) and the baseline that style retrieval has to beat.

    h      = joint RGB histogram, ``bins`` levels per channel, normalised to sum 1
    colour = sqrt(h)                  (Hellinger map: cosine of sqrt-histograms = Bhattacharyya)

The index centres it over the collection (``collection_norm = "centre"``) and L2-normalises.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stylesim.descriptors.base import Descriptor

if TYPE_CHECKING:
    import torch


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
        from stylesim.descriptors import ops

        return ops.colour_histogram(pixels, self.bins)

    def config(self) -> dict[str, Any]:
        return {"bins": self.bins, "dim": self.dim}
