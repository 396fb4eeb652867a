"""A fixed partial whitening of the Gram sketch, fitted once on a reference collection that no
evaluation set draws on, and shipped with the package (``whitening/<name>.npz``).

Fitted on the reference's Gram sketches as the index stores them (centred on the reference's
mean, unit length): C = B diag(lambda) B^T, lambda descending, lambda floored at 1e-3 lambda_1.
Kept are the top k directions U = B[:, :k]; the rest share one scale, the mean of their
eigenvalues lambda_rest:

    W = U diag(lambda_1..k ^ e) U^T + lambda_rest^e (I - U U^T),    e = (alpha - 1) / 2
    g_white = g W = lambda_rest^e g + ((g U) * (lambda_1..k^e - lambda_rest^e)) U^T

alpha = 1 is the identity (up to scale), alpha = 0 full whitening (C^(-1/2)). W is linear, so
the index's centring on the collection mean still commutes with it. What it does: directions in
which every Gram matrix of natural pictures varies (the brightness of the whole picture, how
much of it is flat) stop dominating the cosine, and the rarer directions that tell looks apart
count as much (the measurements that chose alpha and the reference are in docs/retrieval.md).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylesim.errors import StylesimError

WHITENING_DIR = Path(__file__).resolve().parent / "whitening"
EIGENVALUE_FLOOR = 1e-3


@dataclass(frozen=True)
class Whitening:
    basis: np.ndarray  # (d, k) float32, orthonormal columns U
    scales: np.ndarray  # (k,) float32, lambda_1..k ^ e
    rest: float  # lambda_rest ^ e
    about: dict[str, Any] = field(default_factory=dict)  # what it was fitted on and for

    def apply(self, g: torch.Tensor) -> torch.Tensor:
        """g W (module docstring) for sketches (N, d), in float32 on g's device."""
        basis = torch.as_tensor(self.basis, device=g.device)
        scales = torch.as_tensor(self.scales, device=g.device)
        g = g.float()
        return self.rest * g + ((g @ basis) * (scales - self.rest)) @ basis.T

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            basis=self.basis.astype(np.float16),
            scales=self.scales,
            rest=np.float32(self.rest),
            about=np.frombuffer(json.dumps(self.about).encode(), np.uint8),
        )
        return buffer.getvalue()


def fit_whitening(unit_vectors: np.ndarray, alpha: float, rank: int, about: dict[str, Any]) -> Whitening:
    """W of the module docstring from reference sketches (N, d), centred here on their mean."""
    centred = np.asarray(unit_vectors, np.float64) - np.mean(unit_vectors, axis=0)
    eigenvalues, basis = np.linalg.eigh(centred.T @ centred / len(centred))
    eigenvalues, basis = eigenvalues[::-1], basis[:, ::-1]
    eigenvalues = np.maximum(eigenvalues, EIGENVALUE_FLOOR * eigenvalues[0])
    exponent = (alpha - 1) / 2
    tail = eigenvalues[rank:] if rank < len(eigenvalues) else eigenvalues[-1:]
    rest = float(tail.mean() ** exponent)
    scales = (eigenvalues[:rank] ** exponent).astype(np.float32)
    # rescaled so that the rest is 1: the cosine does not see the overall scale
    about = {**about, "alpha": alpha, "rank": rank, "fitted_on": len(centred)}
    basis16 = basis[:, :rank].astype(np.float16).astype(np.float32)  # as stored
    return Whitening(basis16, scales / rest, 1.0, about)


@cache
def load_whitening(name: str) -> Whitening:
    """The shipped whitening ``name`` (``whitening/<name>.npz``)."""
    path = WHITENING_DIR / f"{name}.npz"
    try:
        with np.load(path) as arrays:
            about = json.loads(bytes(arrays["about"]).decode())
            return Whitening(
                arrays["basis"].astype(np.float32), arrays["scales"], float(arrays["rest"]), about
            )
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in WHITENING_DIR.glob("*.npz"))) or "none"
        raise StylesimError(f"gram whitening {name!r} is not installed (known: {known})") from None
