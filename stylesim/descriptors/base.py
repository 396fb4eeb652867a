"""What every descriptor is: a name, the layers it reads, a dimension, and a
pure function from VGG activations to vectors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch


class Descriptor(ABC):
    """Turns activations ``{layer: (N, C, H, W)}`` into (N, dim) float32 vectors.

    ``pixels`` (N, H, W, 3) uint8 RGB is passed too, for pixel-level descriptors. With
    ``collection_norm == "none"`` vectors are L2-normalised (cosine = inner product); otherwise
    they are raw and the index standardises them over the collection ("centre" or "block",
    see ``descriptors.standardise``) before normalising.
    """

    name: str
    layers: tuple[str, ...]
    dim: int
    collection_norm: str = "none"

    @abstractmethod
    def from_features(self, features: dict[str, torch.Tensor], pixels: torch.Tensor) -> torch.Tensor:
        """(N, dim) float32 vectors for a batch of activations."""

    def blocks(self) -> list[int]:
        """Groups of dimensions that share one scale in the collection standardisation."""
        return [self.dim]

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild this descriptor exactly (stored in the manifest)."""

    @property
    def bytes_per_item(self) -> int:
        """Stored as float16: 2 bytes per dimension."""
        return self.dim * 2


def l2_normalise(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """x / ||x||_2 along the last axis (zero vectors stay zero)."""
    norm: torch.Tensor = x.norm(dim=-1, keepdim=True)
    return x / norm.clamp_min(eps)


def signed_sqrt(x: torch.Tensor) -> torch.Tensor:
    """sign(x) * sqrt(|x|), the element-wise power normalisation of Lin & Maji 2017, sec. 3."""
    return x.sign() * x.abs().sqrt()


def flatten_spatial(feature: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H*W, C) positions x channels, in float32 (statistics are accumulated
    in fp32). A view, without copying, of the encoder's channels-last activations."""
    n, c, h, w = feature.shape
    return feature.permute(0, 2, 3, 1).reshape(n, h * w, c).float()
