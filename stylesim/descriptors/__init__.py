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

# ``--by style``: weighted sum of cosines (weights sum to 1), chosen on the look x photo grid by
# ``scripts/eval_retrieval.py --sweep-fusion``: the best weightings form a plateau (style mAP@10
# 0.518-0.526 for gram 0.3-0.7, adain 0-0.1, colour 0.3-0.7); this is its middle, keeping a
# little adain. The previous 0.5 / 0.2 / 0.3 gave 0.509.
STYLE_FUSION: dict[str, float] = {"gram": 0.5, "adain": 0.1, "colour": 0.4}


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


__all__ = ["Descriptor", "REGISTRY", "STYLE_FUSION", "ColourDescriptor", "build_descriptors", "GramDescriptor", "AdaINDescriptor", "ContentDescriptor"]
