"""ReLU, max(x, 0), and the 2 x 2 max pooling that follows it in VGG19, for inference in 16-bit
floats, computed on the bits.

A bfloat16 or float16 number is negative exactly when its top bit (the sign) is set, that is when
its 16 bits read as a negative int16. Clamping that int16 view at 0 turns every negative number
into +0.0 and leaves every other one as it was: max(x, 0) bit for bit, in one integer pass that
every backend vectorises (PyTorch's own bfloat16 ReLU on the CPU is far slower: the measurement
is in docs/performance.md). Two edge cases differ from ``torch.relu``: -0.0 becomes +0.0, and a
NaN with the sign bit set becomes 0.

Non-negative 16-bit floats order as their bits read as int16 do (the exponent sits above the
mantissa), so the maximum of ReLU outputs is the maximum of their int16 views: pooling takes the
elementwise maximum of the four strided quarters of those views, max(x[2i, 2j], x[2i, 2j+1],
x[2i+1, 2j], x[2i+1, 2j+1]), the same values as ``F.max_pool2d(x, 2, 2)``.
"""

from __future__ import annotations

import torch
from torch import nn

SIXTEEN_BIT_FLOATS = (torch.bfloat16, torch.float16)


class SignBitReLU(nn.ReLU):
    """``nn.ReLU`` whose 16-bit float inputs without autograd are clamped through their int16
    view (module docstring); other inputs, and any that need a gradient, go to ``nn.ReLU``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _without_autograd_in_16_bits(x):
            return super().forward(x)
        bits = x.view(torch.int16)
        if self.inplace:
            bits.clamp_min_(0)
            return x
        return bits.clamp_min(0).view(x.dtype)


def _without_autograd_in_16_bits(x: torch.Tensor) -> bool:
    return x.dtype in SIXTEEN_BIT_FLOATS and not (x.requires_grad and torch.is_grad_enabled())


class NonNegativeMaxPool2d(nn.MaxPool2d):
    """2 x 2 max pooling with stride 2 (``nn.MaxPool2d(2, 2)``) for inputs that are never negative
    (ReLU outputs): 16-bit floats without autograd through their int16 views (module docstring),
    other inputs through ``nn.MaxPool2d``. An odd last row or column is dropped, as there."""

    def __init__(self) -> None:
        super().__init__(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _without_autograd_in_16_bits(x):
            pooled: torch.Tensor = super().forward(x)
            return pooled
        h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
        bits = x[..., :h, :w].view(torch.int16)
        top = torch.maximum(bits[..., 0::2, 0::2], bits[..., 0::2, 1::2])
        bottom = torch.maximum(bits[..., 1::2, 0::2], bits[..., 1::2, 1::2])
        return torch.maximum(top, bottom).view(x.dtype)
