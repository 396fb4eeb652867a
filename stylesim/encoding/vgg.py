"""The VGG19 feature encoder: one forward pass that stops at the deepest requested layer and
returns every requested activation."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import nn

from stylesim.encoding.layers import VGG19_LAYERS, deepest_layer, layer_channels, layer_index
from stylesim.encoding.preprocess import Preprocessing, to_model_input
from stylesim.encoding.relu import NonNegativeMaxPool2d, SignBitReLU
from stylesim.encoding.weights import WeightSource
from stylesim.errors import StylesimError

PaddingMode = Literal["zeros", "reflect"]


class VGG19Encoder(nn.Module):
    """VGG19 convolutional trunk truncated after the deepest layer in ``layers``.

    ``forward(x)`` takes a preprocessed (N, 3, H, W) batch and returns ``{layer: activation}``
    for each requested layer; ``encode(pixels)`` also does the preprocessing.
    """

    def __init__(
        self,
        weights: WeightSource,
        layers: tuple[str, ...],
        device: torch.device | str = "cpu",
        padding_mode: PaddingMode = "zeros",
    ) -> None:
        super().__init__()
        if not layers:
            raise ValueError("the encoder needs at least one output layer")
        self.layers = tuple(sorted(set(layers), key=layer_index))
        self.weights = weights
        self.preprocessing: Preprocessing = weights.preprocessing
        last = layer_index(deepest_layer(self.layers))
        state = weights.load()
        modules: dict[str, nn.Module] = {}
        in_channels, previous = 3, ""
        for name in VGG19_LAYERS[: last + 1]:
            if name.startswith("conv"):
                out_channels = layer_channels(name)
                conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, padding_mode=padding_mode)
                weight, bias = state[name]
                if tuple(weight.shape) != (out_channels, in_channels, 3, 3):
                    raise StylesimError(
                        f"{weights.path}: {name} has shape {tuple(weight.shape)}, "
                        f"expected {(out_channels, in_channels, 3, 3)}"
                    )
                with torch.no_grad():
                    conv.weight.copy_(weight)
                    assert conv.bias is not None
                    conv.bias.copy_(bias)
                modules[name] = conv
                in_channels = out_channels
            elif name.startswith("relu"):  # in place unless the convolution's own output is asked for
                modules[name] = SignBitReLU(inplace=previous not in self.layers)
            else:  # every pool follows a ReLU
                modules[name] = NonNegativeMaxPool2d()
            previous = name
        self.body = nn.ModuleDict(modules)
        self.requires_grad_(False)
        self.eval()
        self.device = torch.device(device)
        # channels-last: oneDNN and cuDNN convolutions are faster in NHWC (measured on the 2-core
        # CPU: 9.1 vs 7.9 img/s at batch 1, 6.7 vs 4.9 at batch 16; scripts/bench_index.py).
        self.to(self.device).to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor, until: str | None = None) -> dict[str, torch.Tensor]:
        """The activations of ``self.layers`` for model input ``x``; with ``until``, only those up
        to that layer (the deeper convolutions are not computed)."""
        if until is not None and until not in self.body:
            raise ValueError(f"{until}: not a layer this encoder computes ({', '.join(self.layers)})")
        wanted = set(self.layers)
        out: dict[str, torch.Tensor] = {}
        x = x.contiguous(memory_format=torch.channels_last)
        for name, module in self.body.items():
            x = module(x)
            if name in wanted:
                out[name] = x
            if name == until:
                break
        return out

    @torch.inference_mode()
    def encode(self, pixels: np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
        """Activations for uint8 RGB pixels of shape (N, H, W, 3)."""
        return self.forward(to_model_input(pixels, self.preprocessing, self.device))
