"""One forward pass per batch, every descriptor from the same activations."""

from __future__ import annotations

import numpy as np
import torch

from stylesim.descriptors.base import Descriptor
from stylesim.encoding import VGG19Encoder


class DescriptorExtractor:
    """Runs the encoder to the deepest layer any descriptor needs and returns
    ``{descriptor name: (N, dim) float32 array}``."""

    def __init__(self, encoder: VGG19Encoder, descriptors: dict[str, Descriptor]) -> None:
        needed = {layer for d in descriptors.values() for layer in d.layers}
        missing = needed - set(encoder.layers)
        if missing:
            raise ValueError(f"encoder does not output {sorted(missing)}")
        self.encoder = encoder
        self.descriptors = descriptors

    @torch.inference_mode()
    def __call__(self, pixels: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
        pixels = torch.as_tensor(pixels)
        if pixels.ndim == 3:
            pixels = pixels.unsqueeze(0)
        features = self.encoder.encode(pixels)
        return {name: d.from_features(features, pixels).float().cpu().numpy() for name, d in self.descriptors.items()}
