"""VGG19 encoder: layer names, weight sources with their preprocessing, the multi-layer encoder."""

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

__all__ = [
    "VGG19_LAYERS",
    "layer_channels",
    "layer_index",
    "deepest_layer",
    "Preprocessing",
    "to_model_input",
    "WeightSource",
    "resolve_weights",
    "VGG19Encoder",
    "resolve_device",
    "choose_precision",
    "autocast",
    "default_batch_size",
    "default_decode_workers",
]
