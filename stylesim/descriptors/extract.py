"""One forward pass per batch, every descriptor from the same activations.

Network input (the manifest's ``network_input``): ``luminance`` (default) feeds the VGG the
image's luma replicated to three channels, so gram, adain and content describe texture and
shape and not colour, which the pixel-level colour histogram describes on its own. Measured on
the look x photo grid (24 photos x 7 looks, scripts/eval_retrieval.py): --by style mAP@10
0.620 -> 0.72 with the same content mAP@10 (0.973 vs 0.972): the oil-painting and watercolour
looks, which keep the photo's palette, are found by their brushwork once colour is out of the
network's way. ``rgb`` is the plain alternative.
"""

from __future__ import annotations

import numpy as np
import torch

from stylesim.descriptors.base import Descriptor
from stylesim.encoding import VGG19Encoder
from stylesim.encoding.preprocess import luminance_rgb

NETWORK_INPUTS = ("luminance", "rgb")
DEFAULT_NETWORK_INPUT = "luminance"


class DescriptorExtractor:
    """Runs the encoder to the deepest layer any descriptor needs and returns
    ``{descriptor name: (N, dim) float32 array}``."""

    def __init__(
        self,
        encoder: VGG19Encoder,
        descriptors: dict[str, Descriptor],
        network_input: str = DEFAULT_NETWORK_INPUT,
    ) -> None:
        if network_input not in NETWORK_INPUTS:
            raise ValueError(f"unknown network input {network_input!r}; use {' or '.join(NETWORK_INPUTS)}")
        self.network_input = network_input
        needed = {layer for d in descriptors.values() for layer in d.layers}
        missing = needed - set(encoder.layers)
        if missing:
            raise ValueError(f"encoder does not output {sorted(missing)}")
        self.encoder = encoder
        self.descriptors = descriptors

    @torch.inference_mode()
    def features(self, pixels: np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
        """The encoder's activations for RGB pixels (N, H, W, 3), fed as ``network_input`` says."""
        pixels = _batch(pixels)
        return self.encoder.encode(luminance_rgb(pixels) if self.network_input == "luminance" else pixels)

    @torch.inference_mode()
    def __call__(self, pixels: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
        pixels = _batch(pixels)
        features = self.features(pixels)
        return {
            name: d.from_features(features, pixels).float().cpu().numpy()
            for name, d in self.descriptors.items()
        }


def _batch(pixels: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) tensor of one image (H, W, 3) or a batch."""
    pixels = torch.as_tensor(pixels)
    return pixels.unsqueeze(0) if pixels.ndim == 3 else pixels
