"""Descriptors: VGG activations -> vectors. Adding one = a new module + one line in REGISTRY."""

from __future__ import annotations

from typing import Any

from stylesim.descriptors.adain import AdaINDescriptor
from stylesim.descriptors.base import Descriptor
from stylesim.descriptors.colour import ColourDescriptor
from stylesim.descriptors.content import ContentDescriptor
from stylesim.descriptors.gram import CoarseGramDescriptor, GramDescriptor

REGISTRY: dict[str, type[Descriptor]] = {
    "gram": GramDescriptor,
    "adain": AdaINDescriptor,
    "content": ContentDescriptor,
    "colour": ColourDescriptor,
    "coarse": CoarseGramDescriptor,
}


def build_descriptors(config: dict[str, dict[str, Any]] | None = None) -> dict[str, Descriptor]:
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


__all__ = [
    "Descriptor",
    "REGISTRY",
    "ColourDescriptor",
    "build_descriptors",
    "GramDescriptor",
    "AdaINDescriptor",
    "ContentDescriptor",
]
