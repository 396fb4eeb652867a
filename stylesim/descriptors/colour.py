"""Colour-histogram descriptor (pixel level, no network). Part of the ``style`` fusion (a
palette is part of a look).

    h      = joint RGB histogram, ``bins`` levels per channel, normalised to sum 1
    colour = sqrt(h)                  (Hellinger map: cosine of sqrt-histograms = Bhattacharyya)

with ``background = "balanced"`` (the default) h counts each pixel p with the weight

    w_p = m_p + (1 - m_p) min(1, s / (1 - s))

where m_p is 0 on a plain canvas and 1 elsewhere (canvas: within 24 levels of the border's
median colour, anywhere in the picture, when at least half the border is; ``ops.foreground_mask``)
and s the drawing's share of the picture: the canvas weighs at most what the drawing weighs, so
black type on white is described by its ink and antialiasing, not by how much paper it leaves,
and a picture without a plain border (most photos, paintings) counts every pixel alike.
``"all"``: every pixel alike (indexes made before this default).

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

BACKGROUNDS = ("all", "balanced")  # how a plain canvas counts (module docstring)

if TYPE_CHECKING:
    import torch


class ColourDescriptor(Descriptor):
    name = "colour"
    layers: tuple[str, ...] = ()
    collection_norm = "centre"

    def __init__(self, bins: int = 10, dim: int | None = None, background: str = "balanced") -> None:
        self.bins = bins
        self.dim = bins**3
        if dim is not None and dim != self.dim:
            raise ValueError(f"colour with {bins} bins has {self.dim} dimensions, not {dim}")
        if background not in BACKGROUNDS:
            raise ValueError(f"colour background {background!r}: not one of {', '.join(BACKGROUNDS)}")
        self.background = background

    def from_features(self, features: dict[str, torch.Tensor], pixels: torch.Tensor) -> torch.Tensor:
        import torch

        from stylesim.descriptors import ops

        x = torch.as_tensor(pixels)  # (N, H, W, 3): the extractor passes a batch, maybe a NumPy array
        weights = ops.canvas_at_most_foreground(x) if self.background == "balanced" else None
        return ops.colour_histogram(x, self.bins, weights)

    def config(self) -> dict[str, Any]:
        return {"bins": self.bins, "dim": self.dim, "background": self.background}
