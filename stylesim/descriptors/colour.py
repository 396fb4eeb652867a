"""Colour-histogram descriptor (pixel level, no network). Part of the ``style`` fusion (a
palette is part of a look).

    h      = joint RGB histogram, ``bins`` levels per channel, normalised to sum 1
    colour = sqrt(h)                  (Hellinger map: cosine of sqrt-histograms = Bhattacharyya)

Default 10 levels per channel (1 000 bins): finer than 8 levels, it tells apart palettes that
share a coarse bin, and unlike a hue histogram it keeps a JPEG-recompressed copy's colours
(chosen on every set at once, docs/retrieval.md, "Colour"). An index records its ``bins``
(indexes made before this default keep 8). The evaluation's colour-histogram baseline is the
plain 8-level histogram.

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

    def __init__(self, bins: int = 10, dim: int | None = None) -> None:
        self.bins = bins
        self.dim = bins**3
        if dim is not None and dim != self.dim:
            raise ValueError(f"colour with {bins} bins has {self.dim} dimensions, not {dim}")

    def from_features(self, features: dict[str, torch.Tensor], pixels: torch.Tensor) -> torch.Tensor:
        from stylesim.descriptors import ops

        return ops.colour_histogram(pixels, self.bins)

    def config(self) -> dict[str, Any]:
        return {"bins": self.bins, "dim": self.dim}
