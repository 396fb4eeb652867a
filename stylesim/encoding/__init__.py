"""VGG19 encoder: layer names, weight sources with their preprocessing, the multi-layer encoder."""

from stylesim.encoding.layers import VGG19_LAYERS, layer_channels, layer_index, deepest_layer
from stylesim.encoding.preprocess import Preprocessing, input_shape, to_model_input
from stylesim.encoding.weights import WeightSource, resolve_weights
from stylesim.encoding.vgg import VGG19Encoder, default_batch_size, default_decode_workers, resolve_device

__all__ = [
    "VGG19_LAYERS",
    "layer_channels",
    "layer_index",
    "deepest_layer",
    "Preprocessing",
    "input_shape",
    "to_model_input",
    "WeightSource",
    "resolve_weights",
    "VGG19Encoder",
    "resolve_device",
    "default_batch_size",
    "default_decode_workers",
]
