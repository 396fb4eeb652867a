"""Standardisation over the collection: centre every dimension on the collection mean, and
optionally give each *block* of dimensions (e.g. the channel means of one layer) the same share
of the distance.

Fitted on the collection's raw vectors X (N x d) with blocks B_1..B_m:

    mu_d  = mean_n X_nd
    s_d   = sqrt( mean_n ||X_nB - mu_B||^2 )   for d in block B   ("block" scaling)
          = 1                                                      ("centre" only)
    z     = (x - mu) / s,   stored vector = z / ||z||,  and ||z|| kept per item

Centring removes what every item of the collection shares (all Gram matrices of ReLU features
are positive and alike), so cosine similarity measures how items *differ*; block scaling stops
the deep layers, whose statistics are orders of magnitude larger, from drowning the shallow ones
(the measurements that chose both are in docs/retrieval.md). Because ||z|| is kept, raw vectors
can be recovered (x = mu + s * v * ||z||) and the index can refit the statistics when the
collection has grown or shrunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to unit length (zero rows stay zero), as float32."""
    vectors = np.asarray(x, np.float32)
    unit: np.ndarray = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return unit


@dataclass
class Standardiser:
    mean: np.ndarray  # (d,) float64
    scale: np.ndarray  # (d,) float64, > 0
    count: int  # number of items fitted on

    @classmethod
    def fit(cls, raw: np.ndarray, blocks: list[int], scaling: str = "block") -> Standardiser:
        """Fit on raw vectors (N, d); ``blocks`` are the sizes of dimension groups that share a
        scale (e.g. the means of one layer) and sum to d; ``scaling`` is "block" or "centre"."""
        raw = np.asarray(raw, dtype=np.float64)
        if raw.ndim != 2 or raw.shape[0] == 0:
            raise ValueError(f"need a non-empty (N, d) array to fit, got shape {raw.shape}")
        if sum(blocks) != raw.shape[1]:
            raise ValueError(f"blocks sum to {sum(blocks)}, vectors have {raw.shape[1]} dimensions")
        if scaling not in ("block", "centre"):
            raise ValueError(f"unknown scaling {scaling!r}")
        mean = raw.mean(axis=0)
        scale = np.ones_like(mean)
        if scaling == "block":
            start = 0
            for size in blocks:
                spread = np.sqrt(
                    ((raw[:, start : start + size] - mean[start : start + size]) ** 2).sum(axis=1).mean()
                )
                scale[start : start + size] = max(float(spread), 1e-8)
                start += size
        return cls(mean=mean, scale=scale, count=int(raw.shape[0]))

    def apply(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(unit vectors z/||z|| as float32, norms ||z|| as float32) for raw vectors (N, d)."""
        z = (np.asarray(raw, dtype=np.float64) - self.mean) / self.scale
        norms = np.linalg.norm(z, axis=1)
        unit = z / np.maximum(norms, 1e-12)[:, None]
        return unit.astype(np.float32), norms.astype(np.float32)

    def invert(self, unit: np.ndarray, norms: np.ndarray) -> np.ndarray:
        """Raw vectors back from stored unit vectors and their norms."""
        return (
            self.mean + self.scale * (np.asarray(unit, np.float64) * np.asarray(norms, np.float64)[:, None])
        ).astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "scale": self.scale, "count": np.array(self.count)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Standardiser:
        return cls(
            mean=np.asarray(arrays["mean"]), scale=np.asarray(arrays["scale"]), count=int(arrays["count"])
        )
