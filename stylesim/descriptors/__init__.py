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
