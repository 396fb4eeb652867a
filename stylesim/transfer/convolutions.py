"""The AdaIN decoder's two convolution patterns computed without building their padded or
upsampled inputs: the same sums, fewer copies and (after an upsampling) fewer multiply-adds.

Reflection-padded 3 x 3 convolution, y = conv(reflect_pad(x)). Away from the border the padding
is not read, so y equals the convolution with zero padding there; only the first and last row and
column read padded values. Those four lines are computed again from two-pixel-wide strips of x
padded by reflection, and written over the zero-padded result. No padded copy of x is made.

Nearest x2 upsampling followed by a reflection-padded 3 x 3 convolution, y = conv(reflect_pad(
up(x))). Write u = up(x), u[r] = x[floor(r / 2)] (rows; columns alike). The reflection padding of
u is the replication padding of x upsampled (u[-1] = u[1] = x[0], u[2H] = u[2H-2] = x[H-1]).
Output row 2i reads u rows 2i-1, 2i, 2i+1 = x rows i-1, i, i, and row 2i+1 reads x rows i, i, i+1:

    y[2i + a] = sum_k R_a[k] x[i - 1 + a + k],   k in {0, 1},
    R_0 = (W_0, W_1 + W_2),   R_1 = (W_0 + W_1, W_2)   (W_t: the kernel's row t)

and the same for the columns (phase b: (W_0, W_1 + W_2, 0) or (0, W_0 + W_1, W_2) on columns
j-1, j, j+1). So each row phase a is one convolution of the replication-padded x with a 2 x 3
kernel whose 2 C_out outputs are the two column phases; its output rows are the output's rows
2i + a, its two channel halves the output's columns 2j and 2j+1 (a plain copy in channels-last
memory). 6 multiply-adds per output value and input channel instead of 9, at the input's
resolution (one of the three kernel columns is zero in each phase; four 2 x 2 phases would need
4, but their outputs are shifted by a column and interleaving them cost more than it saved).

Both are exact in real arithmetic; in floating point the summed kernel rows round differently.
"""

from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F
from torch import nn

# _ROW_PHASES[a, k, t]: how much of the 3 x 3 kernel's row t the 2-row kernel of phase a takes at
# its row k (see the module doc); _COLUMN_PHASES[b, k, t]: the same for columns, over 3 columns
_ROW_PHASES = torch.tensor([[[1.0, 0, 0], [0, 1, 1]], [[1, 1, 0], [0, 0, 1]]])
_COLUMN_PHASES = torch.tensor([[[1.0, 0, 0], [0, 1, 1], [0, 0, 0]], [[0, 0, 0], [1, 1, 0], [0, 0, 1]]])
_PHASE_KERNELS: weakref.WeakKeyDictionary[nn.Conv2d, tuple[tuple[object, ...], list[torch.Tensor]]] = (
    weakref.WeakKeyDictionary()
)


def reflection_padded_conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """conv(reflect_pad(x, 1)) for a 3 x 3, stride 1 ``conv`` (module doc); x at least 2 x 2."""
    weight, bias = conv.weight, conv.bias
    out = F.conv2d(x, weight, bias, padding=1)
    strips = (
        (x[:, :, :2], (1, 1, 1, 0)),
        (x[:, :, -2:], (1, 1, 0, 1)),
        (x[:, :, :, :2], (1, 0, 1, 1)),
        (x[:, :, :, -2:], (0, 1, 1, 1)),
    )
    top, bottom, left, right = (F.conv2d(pad_in_its_dtype(s, p, "reflect"), weight, bias) for s, p in strips)
    out[:, :, :1] = top
    out[:, :, -1:] = bottom
    out[:, :, :, :1] = left
    out[:, :, :, -1:] = right
    return out


def upsampled_conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """conv(reflect_pad(nearest_upsample_x2(x), 1)) for a 3 x 3, stride 1 ``conv``, computed at
    the resolution of x (module doc); channels-last output."""
    n, _, h, w = x.shape
    c_out = conv.weight.shape[0]
    padded = pad_in_its_dtype(x, (1, 1, 1, 1), "replicate")
    bias = None if conv.bias is None else conv.bias.repeat(2)
    phases = [  # (n, (b, c), h, w) each: output rows 2i + a
        F.conv2d(padded[:, :, a : a + h + 1], kernel, bias) for a, kernel in enumerate(_phase_kernels(conv))
    ]
    out = torch.empty(
        (n, c_out, 2 * h, 2 * w), dtype=phases[0].dtype, device=x.device, memory_format=torch.channels_last
    )
    rows = out.permute(0, 2, 3, 1).view(n, h, 2, w, 2 * c_out)  # [n, i, a, j, (b, c)]
    for a, phase in enumerate(phases):
        rows[:, :, a] = phase.permute(0, 2, 3, 1)
    return out


def pad_in_its_dtype(x: torch.Tensor, pad: tuple[int, int, int, int], mode: str) -> torch.Tensor:
    """``F.pad`` keeping x's dtype: CPU autocast runs reflection and replication padding in
    float32, so under bf16 each padded activation went to float32 and back (the same values)."""
    with torch.autocast(x.device.type, enabled=False):
        return F.pad(x, pad, mode=mode)


def _phase_kernels(conv: nn.Conv2d) -> list[torch.Tensor]:
    """The two row phases' 2 x 3 kernels, (2 C_out, C_in, 2, 3) with output channel b C_out + o,
    computed in float32 from the conv's weight and kept while that weight is the same tensor,
    storage, device, dtype and version (an edit through ``weight.data`` is not seen; weights made
    under ``torch.inference_mode`` have no version: theirs are computed on every call)."""
    weight = conv.weight
    key = None
    if not weight.is_inference():
        key = (id(weight), weight.data_ptr(), weight.device, weight.dtype, weight._version)
    cached = _PHASE_KERNELS.get(conv)
    if key is not None and cached is not None and cached[0] == key:
        return cached[1]
    rows, columns = _ROW_PHASES.to(weight.device), _COLUMN_PHASES.to(weight.device)
    # K[a, b, o, c, k, l] = sum_{t, s} R[a, k, t] W[o, c, t, s] C[b, l, s]
    phases = torch.einsum("akt,octs,bls->abockl", rows, weight.detach().float(), columns)
    kernels = [
        p.reshape(2 * weight.shape[0], weight.shape[1], 2, 3)
        .to(weight.dtype)
        .contiguous(memory_format=torch.channels_last)
        for p in phases
    ]
    if key is not None:
        _PHASE_KERNELS[conv] = (key, kernels)
    return kernels
