"""VGG19 encoder: layer names, weight sources with their preprocessing, the multi-layer encoder,
device and precision. The names below load their module (and torch) on first use, so that the
layers that only read indexes (``stylesim.index``) stay free of torch."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stylesim.encoding.device import (
        autocast,
        choose_precision,
        default_batch_size,
        default_decode_workers,
        resolve_device,
    )
    from stylesim.encoding.layers import VGG19_LAYERS, deepest_layer, layer_channels, layer_index
    from stylesim.encoding.preprocess import Preprocessing, to_model_input
    from stylesim.encoding.vgg import VGG19Encoder
    from stylesim.encoding.weights import WeightSource, resolve_weights

_WHERE = {
    "autocast": "device",
    "choose_precision": "device",
    "default_batch_size": "device",
    "default_decode_workers": "device",
    "resolve_device": "device",
    "VGG19_LAYERS": "layers",
    "deepest_layer": "layers",
    "layer_channels": "layers",
    "layer_index": "layers",
    "Preprocessing": "preprocess",
    "to_model_input": "preprocess",
    "VGG19Encoder": "vgg",
    "WeightSource": "weights",
    "resolve_weights": "weights",
}
__all__ = [
    "VGG19_LAYERS",
    "Preprocessing",
    "VGG19Encoder",
    "WeightSource",
    "autocast",
    "choose_precision",
    "deepest_layer",
    "default_batch_size",
    "default_decode_workers",
    "layer_channels",
    "layer_index",
    "resolve_device",
    "resolve_weights",
    "to_model_input",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'stylesim.encoding' has no attribute {name!r}")
    return getattr(importlib.import_module(f"stylesim.encoding.{_WHERE[name]}"), name)
