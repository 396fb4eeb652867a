"""The device stage: uint8 pictures in, every descriptor out, from one forward pass per batch.

    uint8 (N, H, W, 3) on the host --to the device, 3 bytes a pixel (pinned, non-blocking on CUDA)-->
    network input on the device (luminance, normalisation) --VGG19 under the chosen precision-->
    activations --each descriptor in float32--> one (N, D) float32 tensor on the device

The caller copies that tensor to the host once per batch. Descriptors are computed after the
autocast region, on the activations cast to float32: Gram matrices and statistics are
accumulated in float32 whatever the network ran in.

Network input (the manifest's ``network_input``): ``luminance`` (default) feeds the network the
image's luma in all three channels, so gram, adain and content describe texture and shape and
not colour, which the colour histogram describes on its own (the measurement that chose it is in
docs/retrieval.md); ``rgb`` is the plain alternative.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from stylesim.descriptors.base import Descriptor
from stylesim.encoding import VGG19Encoder
from stylesim.encoding.device import autocast, frozen_in_precision
from stylesim.encoding.layers import deepest_layer
from stylesim.encoding.preprocess import to_model_input

NETWORK_INPUTS = ("luminance", "rgb")
DEFAULT_NETWORK_INPUT = "luminance"


class DescriptorExtractor:
    """Runs the encoder to the deepest layer any descriptor needs; ``encode`` gives the flat
    (N, D) descriptor tensor on the device, ``split`` cuts its host copy into
    ``{descriptor name: (N, dim) float32 array}``, and calling the extractor does all three."""

    def __init__(
        self,
        encoder: VGG19Encoder,
        descriptors: dict[str, Descriptor],
        network_input: str = DEFAULT_NETWORK_INPUT,
        precision: str = "fp32",
    ) -> None:
        if network_input not in NETWORK_INPUTS:
            raise ValueError(f"unknown network input {network_input!r}; use {' or '.join(NETWORK_INPUTS)}")
        needed = {layer for d in descriptors.values() for layer in d.layers}
        missing = needed - set(encoder.layers)
        if missing:
            raise ValueError(f"encoder does not output {sorted(missing)}")
        self.encoder = frozen_in_precision(encoder, precision)
        self.descriptors = descriptors
        self.network_input = network_input
        self.precision = precision
        self.layout = [(name, d.dim) for name, d in descriptors.items()]
        self.dim = sum(dim for _, dim in self.layout)
        self.deepest = deepest_per_side(descriptors)

    @property
    def device(self) -> torch.device:
        return self.encoder.device

    def to_device(self, pixels: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 (N, H, W, 3) pixels on the encoder's device (from pinned memory, without waiting,
        on CUDA)."""
        x = torch.as_tensor(pixels)
        x = x.unsqueeze(0) if x.ndim == 3 else x
        if self.device.type == "cuda":
            return (x if x.is_pinned() else x.pin_memory()).to(self.device, non_blocking=True)
        return x.to(self.device)

    @torch.inference_mode()
    def features(
        self, pixels: torch.Tensor | np.ndarray, until: str | None = None
    ) -> dict[str, torch.Tensor]:
        """The encoder's activations for uint8 RGB pixels, fed as ``network_input`` says (with
        ``until``, only those up to that layer)."""
        x = to_model_input(pixels, self.encoder.preprocessing, self.device, self.network_input == "luminance")
        with autocast(self.device, self.precision):
            return self.encoder.forward(x, until)

    @torch.inference_mode()
    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, D) float32 descriptors, in ``layout`` order, of uint8 pixels on the device: one
        forward pass, and one more per ``input_side`` a descriptor asks for, each only as deep as
        the descriptors of that size need (none for those that use no layer)."""
        features: dict[int | None, dict[str, torch.Tensor]] = {}
        for side, until in self.deepest.items():
            picture = pixels if side is None else resized(pixels, side)
            features[side] = {} if until is None else self.features(picture, until)
        vectors = [d.from_features(features[d.input_side], pixels) for d in self.descriptors.values()]
        return torch.cat([v.float() for v in vectors], dim=1)

    def split(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        """The host copy of ``encode``'s output cut into one array per descriptor."""
        out, start = {}, 0
        for name, dim in self.layout:
            out[name] = np.ascontiguousarray(flat[:, start : start + dim], dtype=np.float32)
            start += dim
        return out

    def __call__(self, pixels: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
        return self.split(self.encode(self.to_device(pixels)).cpu().numpy())


def deepest_per_side(descriptors: dict[str, Descriptor]) -> dict[int | None, str | None]:
    """For each input size the descriptors ask for (``input_side``, None = the bucket size), the
    deepest layer any of them reads there, or None when none reads a layer (the colour histogram)."""
    layers: dict[int | None, set[str]] = {}
    for d in descriptors.values():
        layers.setdefault(d.input_side, set()).update(d.layers)
    return {side: deepest_layer(names) if names else None for side, names in layers.items()}


def resized(pixels: torch.Tensor, side: int) -> torch.Tensor:
    """uint8 (N, H, W, 3) pixels resized (antialiased) to about ``side``² pixels at their aspect
    ratio, sides multiples of 16, as uint8."""
    height, width = pixels.shape[1:3]
    scale = side / math.sqrt(height * width)
    shape = [max(16, round(n * scale / 16) * 16) for n in (height, width)]
    x = pixels.permute(0, 3, 1, 2).float()
    x = torch.nn.functional.interpolate(x, size=shape, mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
