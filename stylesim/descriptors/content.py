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

from functools import cached_property
from typing import TYPE_CHECKING, Any

from stylesim.descriptors.base import Descriptor
from stylesim.encoding.layers import layer_channels

if TYPE_CHECKING:
    import torch

    from stylesim.descriptors.sketch import CountSketch

DEFAULT_CONTENT_LAYERS: tuple[str, ...] = ("relu4_2", "relu5_1")


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

    @cached_property
    def sketch(self) -> CountSketch | None:
        from stylesim.descriptors.sketch import CountSketch

        return CountSketch(self.full_dim, self.dim, self.seed) if self.dim < self.full_dim else None

    def from_features(self, features: dict[str, torch.Tensor], pixels: torch.Tensor) -> torch.Tensor:
        from stylesim.descriptors import ops

        v = ops.content_vector(features, self.layers, self.grid)
        if self.sketch is not None:
            v = self.sketch(v)
        return ops.l2_normalise(v)

    def config(self) -> dict[str, Any]:
        return {
            "layers": list(self.layers),
            "grid": self.grid,
            "dim": self.dim,
            "seed": self.seed,
        }
