"""What every descriptor is: a name, the layers it reads, a dimension, and a
pure function from VGG activations to vectors."""

from __future__ import annotations

import math
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
    """(N, C, H, W) -> (N, H*W, C) positions x channels, in the activations' own dtype: a view,
    without copying, of the encoder's channels-last activations."""
    n, c, h, w = feature.shape
    return feature.permute(0, 2, 3, 1).reshape(n, h * w, c)


def sum_over_positions(a: torch.Tensor, b: torch.Tensor, chunk: int) -> torch.Tensor:
    """sum_p a_p^T b_p for (N, P, A) and (N, P, B) -> (N, A, B) float32.

    float32 inputs: one float32 product. bfloat16 inputs (activations of a network run under
    autocast): the positions are cut into chunks of ``chunk``; each chunk is summed by a bf16
    matrix product (float32 accumulation, the result rounded to bf16 once) and the chunk sums
    are added in float32, so the rounding errors of the chunks (2^-9 relative each) average out
    instead of landing on the total. 5-15x faster than converting the activations to float32
    first, and within 2e-4 of it (docs/performance.md)."""
    if a.dtype == torch.float32 and b.dtype == torch.float32:
        return torch.bmm(a.transpose(1, 2), b)
    n, p, _ = a.shape
    k = math.gcd(p, max(1, p // chunk))
    if k == 1:
        return torch.bmm(a.transpose(1, 2).float(), b.float())
    a_chunks = a.reshape(n * k, p // k, a.shape[2]).transpose(1, 2)
    partial = torch.bmm(a_chunks, b.reshape(n * k, p // k, b.shape[2]))
    return partial.view(n, k, *partial.shape[1:]).float().sum(dim=1)
