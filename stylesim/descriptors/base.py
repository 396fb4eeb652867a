"""What every descriptor is: a name, the layers it reads, a dimension, and a
pure function from VGG activations to vectors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    # None: computed from the batch's own network input; a number: from a second pass over the
    # pictures resized to about input_side x input_side pixels (``descriptors.extract``)
    input_side: int | None = None

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
