"""ReLU, max(x, 0), for inference in 16-bit floats, computed on the bits.

A bfloat16 or float16 number is negative exactly when its top bit (the sign) is set, that is when
its 16 bits read as a negative int16. Clamping that int16 view at 0 turns every negative number
into +0.0 and leaves every other one as it was: max(x, 0) bit for bit, in one integer pass that
every backend vectorises (PyTorch's own bfloat16 ReLU on the CPU is far slower: the measurement
is in docs/performance.md). Two edge cases differ from ``torch.relu``: -0.0 becomes +0.0, and a
NaN with the sign bit set becomes 0.
"""

from __future__ import annotations

import torch
from torch import nn

SIXTEEN_BIT_FLOATS = (torch.bfloat16, torch.float16)


class SignBitReLU(nn.ReLU):
    """``nn.ReLU`` whose 16-bit float inputs without autograd are clamped through their int16
    view (module docstring); other inputs, and any that need a gradient, go to ``nn.ReLU``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype not in SIXTEEN_BIT_FLOATS or (x.requires_grad and torch.is_grad_enabled()):
            return super().forward(x)
        bits = x.view(torch.int16)
        if self.inplace:
            bits.clamp_min_(0)
            return x
        return bits.clamp_min(0).view(x.dtype)
