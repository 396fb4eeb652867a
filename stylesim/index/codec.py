"""FAISS index per descriptor: inner product (= cosine on unit vectors) over codes stored as
float16 ("fp16", 2 bytes/dim) or 8-bit uniform scalar quantisation ("sq8", 1 byte/dim), with
stable int64 ids (IndexIDMap2: add_with_ids, remove_ids, reconstruct by id)."""

from __future__ import annotations

import math

import faiss
import numpy as np

# sq8 covers [-R, R] with R = SQ8_RANGE / sqrt(dim): a unit vector's coordinates are about
# N(0, 1/dim), so this is ~12 standard deviations; the step is 2R/255 (~3 % of a typical value).
SQ8_RANGE = 12.0


def new_index(dim: int, codec: str) -> faiss.IndexIDMap2:
    if codec == "fp16":
        inner = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    elif codec == "sq8":
        inner = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit_uniform, faiss.METRIC_INNER_PRODUCT)
        bound = min(1.0, SQ8_RANGE / math.sqrt(dim))
        inner.train(np.array([[-bound] * dim, [bound] * dim], dtype=np.float32))
    else:
        raise ValueError(f"unknown codec {codec!r} (fp16 or sq8)")
    return faiss.IndexIDMap2(inner)


def all_vectors(index: faiss.IndexIDMap2) -> tuple[np.ndarray, np.ndarray]:
    """(ids, decoded vectors) of everything in the index, in storage order."""
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    if len(ids) == 0:
        return ids, np.zeros((0, index.d), dtype=np.float32)
    return ids, index.index.reconstruct_n(0, index.ntotal)


def vectors_for(index: faiss.IndexIDMap2, ids: np.ndarray) -> np.ndarray:
    """Decoded vectors for the given ids (each must be present)."""
    return np.stack([index.reconstruct(int(i)) for i in ids]) if len(ids) else np.zeros((0, index.d), np.float32)
