"""Colour-histogram descriptor (pixel level, no network). Part of the ``style`` fusion (a
palette is part of a look).

    h      = joint RGB histogram, ``bins`` levels per channel, normalised to sum 1
    colour = sqrt(h)                  (Hellinger map: cosine of sqrt-histograms = Bhattacharyya)

with ``background = "balanced-flat"`` (the default) h counts each pixel p with the weight

    w_p = m_p + (1 - m_p) (t min(1, s / (1 - s)) + 1 - t),   t = clip(2 f - 1, 0, 1)

where m_p is 0 on a plain canvas and 1 elsewhere (canvas: within 24 levels of the border's
median colour, anywhere in the picture, when at least half the border is; ``ops.foreground_mask``),
s the drawing's share of the picture, and f the share of steps between neighbouring border
pixels that are flat (within 2 levels; ``ops.flat_border``). On a flat border (f = 1: paper) the
canvas weighs at most what the drawing weighs, so black type on white is described by its ink
and antialiasing, not by how much paper it leaves; on a border no more than half flat (a
pattern whose grain fills the picture, a painted sky, most photos and paintings) every pixel
counts alike, and in between the canvas is discounted in proportion, so that a copy and its
original never fall on opposite sides of a threshold.
``"balanced"``: t = 1 whatever the border (indexes made 2026-12-06 to 2026-12-07: it took the
grain of a stone or paper pattern for a canvas); ``"all"``: every pixel alike (indexes made
before).

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

BACKGROUNDS = ("all", "balanced", "balanced-flat")  # how a plain canvas counts (module docstring)

if TYPE_CHECKING:
    import torch


class ColourDescriptor(Descriptor):
    name = "colour"
    layers: tuple[str, ...] = ()
    collection_norm = "centre"

    def __init__(self, bins: int = 10, dim: int | None = None, background: str = "balanced-flat") -> None:
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
        if self.background == "all":
            return ops.colour_histogram(x, self.bins)
        flat_from = ops.FLAT_BORDER_FROM if self.background == "balanced-flat" else None
        weights = ops.canvas_at_most_foreground(x, flat_from=flat_from)
        return ops.colour_histogram(x, self.bins, weights)

    def config(self) -> dict[str, Any]:
        return {"bins": self.bins, "dim": self.dim, "background": self.background}
