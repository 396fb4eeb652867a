"""Multi-layer Gram-matrix style descriptor (Gatys et al. 2016), power- and L2-normalised
(Lin & Maji 2017) and compressed by a count sketch.

For each style layer l with activations F^l of shape C_l x (H_l W_l):

    G^l   = F^l (F^l)^T / (H_l W_l)                 Gatys eq. 3, divided by the number of
                                                    positions so image size does not matter
    P^l   = sign(G^l) sqrt(|G^l|) / ||.||_F          improved bilinear pooling (Lin & Maji)
    u^l   = upper triangle of P^l, off-diagonal x sqrt(2)   so <u^l, u'^l> = <P^l, P'^l>_F
    v     = [u^1, ..., u^L] / sqrt(L)                every layer weighs the same, ||v|| = 1
    gram  = CountSketch(v) W                         164k numbers (relu3_1, relu4_1) -> ``dim``,
                                                    W a fixed partial whitening (``whitening``)

The index then centres the sketches on the collection mean and L2-normalises them
(``collection_norm = "centre"``; centring commutes with the linear sketch). Without centring,
the cosine of two gram vectors estimates (1/L) sum_l <P^l, P'^l>_F, the normalised Gatys style
similarity averaged over layers; with the whitening W (``descriptors.whitening``, fitted once on
a reference collection of clip art and brushes and shipped with the package) the directions in
which all pictures' Gram matrices vary weigh less and the rarer ones more. Indexes made before
it record no whitening and keep computing without it.

Default layers relu3_1 + relu4_1 (164 224 numbers before the sketch), on the luminance
network input (``descriptors.extract``). On the 24-photo x 7-look grid (scripts/eval_retrieval.py,
fused --by style mAP@10): relu1_1..relu4_1 0.699, relu2_1..relu4_1 0.712, relu3_1 + relu4_1
0.729, relu4_1 alone 0.730. The low layers mostly repeat what the colour histogram and AdaIN
statistics already say; relu3/4 correlations describe the brushwork (oil, watercolour). With RGB
input, adding relu5_1 had lowered mAP@10 (0.46 -> 0.42): the deepest layer describes objects.
Sketch size: 256 to 4096 dims and the full vector score the same within 0.02 (docs/retrieval.md).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from stylesim.descriptors.base import Descriptor
from stylesim.encoding.layers import layer_channels
from stylesim.errors import StylesimError

if TYPE_CHECKING:
    import torch

    from stylesim.descriptors.sketch import CountSketch
    from stylesim.descriptors.whitening import Whitening

DEFAULT_GRAM_LAYERS: tuple[str, ...] = ("relu3_1", "relu4_1")
DEFAULT_WHITENING = "clipart-2026-12"  # descriptors/whitening/<name>.npz; "" = none


class GramDescriptor(Descriptor):
    name = "gram"
    collection_norm = "centre"

    def __init__(
        self,
        layers: tuple[str, ...] = DEFAULT_GRAM_LAYERS,
        dim: int = 2048,
        seed: int = 0,
        whitening: str = DEFAULT_WHITENING,
    ) -> None:
        self.layers = tuple(layers)
        self.full_dim = sum(c * (c + 1) // 2 for c in (layer_channels(layer) for layer in self.layers))
        self.dim = dim if dim > 0 else self.full_dim
        self.seed = seed
        self.sketched = dim > 0
        self.whitening = whitening

    @cached_property
    def whitener(self) -> Whitening | None:
        """The shipped whitening, checked to be fitted on this very sketch."""
        from stylesim.descriptors.whitening import load_whitening

        if not self.whitening:
            return None
        found = load_whitening(self.whitening)
        wanted = {"layers": list(self.layers), "dim": self.dim, "seed": self.seed}
        fitted = {k: found.about.get(k) for k in wanted}
        if fitted != wanted:
            raise StylesimError(f"gram whitening {self.whitening!r} was fitted for {fitted}, not {wanted}")
        return found

    @cached_property
    def sketch(self) -> CountSketch | None:
        from stylesim.descriptors.sketch import CountSketch

        return CountSketch(self.full_dim, self.dim, self.seed) if self.sketched else None

    def from_features(self, features: dict[str, torch.Tensor], pixels: torch.Tensor) -> torch.Tensor:
        from stylesim.descriptors import ops

        v = ops.gram_vector(features, self.layers)
        g = self.sketch(v) if self.sketch is not None else v
        return self.whitener.apply(g) if self.whitener is not None else g

    def config(self) -> dict[str, Any]:
        return {"layers": list(self.layers), "dim": self.dim, "seed": self.seed, "whitening": self.whitening}


COARSE_SIDE = 96


class CoarseGramDescriptor(GramDescriptor):
    """The Gram descriptor of the picture resized to about ``input_side``² pixels
    (``COARSE_SIDE`` = 96), Gatys eq. 3 as ``GramDescriptor``: a look compared at a resolution
    that every copy of a picture still has. A small copy is upscaled to the encoder's input and
    so blurred, and its full-size Gram differs from its original's as another look's would; at
    96² the two agree, while other renderings of the picture still differ (measured in
    docs/retrieval.md, "Near-duplicates"). The search uses it to find near-duplicates of the
    query (``index.search``), not as a style component."""

    name = "coarse"

    def __init__(
        self,
        layers: tuple[str, ...] = DEFAULT_GRAM_LAYERS,
        dim: int = 2048,
        seed: int = 1,
        input_side: int = COARSE_SIDE,
    ) -> None:
        super().__init__(layers, dim, seed, whitening="")  # near-duplicate thresholds: unwhitened
        self.input_side = input_side

    def config(self) -> dict[str, Any]:
        config = {**super().config(), "input_side": self.input_side}
        del config["whitening"]
        return config
