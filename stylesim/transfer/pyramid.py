"""Image pyramid for large outputs (coarse to fine): solve at the smallest size, upsample the
result, refine at the next size, and so on. Each level costs what a transfer at that size
costs, and the fine levels start close to the answer, so a 1024 px result does not need the
memory or the steps of a 1024 px solve from scratch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from stylesim.errors import StylesimError
from stylesim.transfer.image import shape_for


def parse_pyramid(text: str) -> tuple[int, ...]:
    """``"256,512"`` -> (256, 512): long sides, strictly increasing."""
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise StylesimError(f"--pyramid {text!r}: give increasing sizes in pixels, e.g. 256,512") from None
    if not sizes or any(b <= a for a, b in zip(sizes, sizes[1:], strict=False)) or sizes[0] < 16:
        raise StylesimError(f"--pyramid {text!r}: give increasing sizes of at least 16 pixels, e.g. 256,512")
    return sizes


def level_shapes(width: int, height: int, sizes: tuple[int, ...]) -> list[tuple[int, int]]:
    """(height, width) of each level for a ``width`` x ``height`` content image."""
    return [shape_for(width, height, size) for size in sizes]


def resample(image: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (N, 3, H, W) to ``shape`` (the next level's starting image)."""
    if tuple(image.shape[-2:]) == tuple(shape):
        return image
    return F.interpolate(image, size=shape, mode="bilinear", align_corners=False).clamp(0, 1)
