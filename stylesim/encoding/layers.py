"""The one place that defines VGG19's layer names (Gatys' ``relu{block}_{n}`` convention).

Simonyan & Zisserman 2015, configuration "E": five blocks of 3x3 convolutions
(2, 2, 4, 4, 4 layers; 64, 128, 256, 512, 512 channels), each followed by ReLU, and a 2x2 max
pool after each block.
"""

from __future__ import annotations

from collections.abc import Iterable

_BLOCKS: tuple[tuple[int, int], ...] = ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512))


def _build() -> tuple[tuple[str, ...], dict[str, int]]:
    names: list[str] = []
    channels: dict[str, int] = {}
    for block, (n_convs, width) in enumerate(_BLOCKS, start=1):
        for n in range(1, n_convs + 1):
            for kind in ("conv", "relu"):
                name = f"{kind}{block}_{n}"
                names.append(name)
                channels[name] = width
        names.append(f"pool{block}")
        channels[f"pool{block}"] = width
    return tuple(names), channels


VGG19_LAYERS, _CHANNELS = _build()
CONV_LAYERS: tuple[str, ...] = tuple(n for n in VGG19_LAYERS if n.startswith("conv"))

# Gatys et al. 2016 ("Image Style Transfer Using CNNs", sec. 3): style relu1_1..relu5_1,
# content relu4_2. Huang & Belongie 2017 (AdaIN, sec. 6.1): statistics at relu1_1..relu4_1.
GATYS_STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
GATYS_CONTENT_LAYER = "relu4_2"


def layer_index(name: str) -> int:
    """Position of ``name`` in the VGG19 layer sequence; ValueError for unknown names."""
    try:
        return VGG19_LAYERS.index(name)
    except ValueError:
        raise ValueError(f"unknown VGG19 layer {name!r}; known: {', '.join(VGG19_LAYERS)}") from None


def layer_channels(name: str) -> int:
    """Number of channels of the activation at ``name``."""
    layer_index(name)
    return _CHANNELS[name]


def deepest_layer(names: Iterable[str]) -> str:
    """The deepest of ``names``: the encoder has to run only that far."""
    return max(names, key=layer_index)
