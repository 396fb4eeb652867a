"""The input geometry of the encoder, decided when a picture is decoded.

Every image is resized to one of a few *aspect buckets* of about ``size**2`` pixels (sides
multiples of 16, so that relu5_1 has whole cells). Images of one bucket batch together, an image
is distorted by at most ~10 % of its aspect ratio, and the encoder's cost per image does not
depend on the file's resolution.
"""

from __future__ import annotations

import math

# Aspect ratios (width / height) of the buckets; their inverses are buckets too. Extreme
# panoramas are squeezed into the 3:1 bucket.
BUCKET_ASPECTS: tuple[float, ...] = (1.0, 4 / 3, 3 / 2, 16 / 9, 2.0, 3.0)
_MULTIPLE = 16


def bucket_shapes(size: int) -> list[tuple[int, int]]:
    """All (height, width) input shapes for a nominal ``size`` (pixel count ~ size**2)."""
    shapes: list[tuple[int, int]] = []
    for aspect in BUCKET_ASPECTS:
        w = max(_MULTIPLE, round(size * math.sqrt(aspect) / _MULTIPLE) * _MULTIPLE)
        h = max(_MULTIPLE, round(size / math.sqrt(aspect) / _MULTIPLE) * _MULTIPLE)
        shapes.append((h, w))
        if aspect != 1.0:
            shapes.append((w, h))
    return shapes


def input_shape(width: int, height: int, size: int) -> tuple[int, int]:
    """(height, width) the encoder sees for a ``width`` x ``height`` image: the bucket whose
    aspect ratio is nearest in log space."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    target = math.log(width / height)
    return min(bucket_shapes(size), key=lambda hw: abs(math.log(hw[1] / hw[0]) - target))
