"""Descriptors: VGG activations -> vectors. Adding one = a new module + one line in REGISTRY."""

from __future__ import annotations

from stylesim.descriptors.adain import AdaINDescriptor
from stylesim.descriptors.base import Descriptor
from stylesim.descriptors.colour import ColourDescriptor
from stylesim.descriptors.content import ContentDescriptor
from stylesim.descriptors.gram import GramDescriptor

REGISTRY: dict[str, type[Descriptor]] = {
    "gram": GramDescriptor,
    "adain": AdaINDescriptor,
    "content": ContentDescriptor,
    "colour": ColourDescriptor,
}

# ``--by style``: weighted sum of cosines (weights sum to 1), chosen by
# ``scripts/eval_retrieval.py --sweep-fusion`` on the 24-photo x 7-look grid with luminance
# network input and gram at relu3_1 + relu4_1: 0.5 / 0.2 / 0.3 is at the top of a flat plateau
# (see README, "Retrieval quality"); colour carries the palette the network no longer sees.
STYLE_FUSION: dict[str, float] = {"gram": 0.5, "adain": 0.2, "colour": 0.3}

# ``--by style`` then discounts items that show the same thing in another look:
#     score(q, x) = s - STYLE_CONTENT_DISCOUNT * cos_content(q, x) * (1 - s),  s = the fusion above
# Same content in the same look (the query itself, duplicates, frames of one shot: s ~ 1) keeps
# its score; the same picture rendered differently (high content, low s) drops. Chosen with
# ``--sweep-fusion`` on the grid and both texture sets (README, "Retrieval quality"): grid
# mAP@10 0.727 -> 0.807 and leakage 0.164 -> 0.075 at 1.0, for -0.007 on the textures and -0.028
# on the recoloured textures. A plain linear penalty (s - 0.3 cos_content) scores the same on
# the grid but demotes the query itself.
STYLE_CONTENT_DISCOUNT: float = 1.0


def build_descriptors(config: dict[str, dict] | None = None) -> dict[str, Descriptor]:
    """Descriptor objects from a manifest's ``descriptors`` section (defaults when None)."""
    if config is None:
        return {name: cls() for name, cls in REGISTRY.items()}
    out: dict[str, Descriptor] = {}
    for name, params in config.items():
        if name not in REGISTRY:
            raise ValueError(f"unknown descriptor {name!r}; known: {', '.join(REGISTRY)}")
        kwargs = dict(params)
        if "layers" in kwargs:
            kwargs["layers"] = tuple(kwargs["layers"])
        out[name] = REGISTRY[name](**kwargs)
    return out


__all__ = ["Descriptor", "REGISTRY", "STYLE_FUSION", "STYLE_CONTENT_DISCOUNT", "ColourDescriptor", "build_descriptors", "GramDescriptor", "AdaINDescriptor", "ContentDescriptor"]
