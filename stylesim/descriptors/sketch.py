"""Count sketch: a fixed random linear map R^n -> R^d that preserves inner products in
expectation (Charikar et al. 2002; used for bilinear features by Gao et al. 2016, "Compact
Bilinear Pooling").

    y_j = sum_{i : h(i) = j} s(i) * x_i,   h(i) uniform in [0, d),  s(i) uniform in {-1, +1}

E[<Cx, Cy>] = <x, y>, with variance <= (||x||^2 ||y||^2 + <x, y>^2) / d, the same as a dense
Gaussian projection, but it costs one scatter-add and stores no matrix. ``h`` and ``s`` come
from a seeded generator, so the manifest's seed rebuilds the same map anywhere.
"""

from __future__ import annotations

import torch


class CountSketch:
    def __init__(self, n_in: int, n_out: int, seed: int) -> None:
        if n_out <= 0 or n_in <= 0:
            raise ValueError(f"count sketch needs positive sizes, got {n_in} -> {n_out}")
        g = torch.Generator().manual_seed(seed)
        self.n_in, self.n_out, self.seed = n_in, n_out, seed
        self.bucket = torch.randint(0, n_out, (n_in,), generator=g)
        self.sign = torch.randint(0, 2, (n_in,), generator=g).float() * 2 - 1
        self._on_device: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(N, n_in) -> (N, n_out)."""
        if x.shape[-1] != self.n_in:
            raise ValueError(f"count sketch expects {self.n_in} inputs, got {x.shape[-1]}")
        if x.device not in self._on_device:  # moved once per device, not once per batch
            self._on_device[x.device] = (self.bucket.to(x.device), self.sign.to(x.device))
        bucket, sign = self._on_device[x.device]
        sign = sign.to(x.dtype)
        out = torch.zeros(x.shape[0], self.n_out, dtype=x.dtype, device=x.device)
        return out.index_add_(1, bucket, x * sign)
