"""FAISS index per descriptor: inner product (= cosine on unit vectors) over float16 codes
("fp16", 2 bytes/dim), with stable int64 ids (IndexIDMap2: add_with_ids, remove_ids,
reconstruct by id).

Why not 8-bit: a fixed-range 8-bit code clips the coordinates of items standardised with
statistics fitted before they arrived (a first fit on grey pencil drawings, then colourful
paintings), and the clipped values corrupt the raw statistics the index recovers when it
refits (tests/index/test_index.py::test_refit_after_growth_matches_a_fresh_build failed with
it). float16 does not clip and keeps ~3 significant digits."""

from __future__ import annotations

import faiss
import numpy as np


def new_index(dim: int) -> faiss.IndexIDMap2:
    """An empty float16 inner-product index with stable ids."""
    return faiss.IndexIDMap2(
        faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    )


def all_vectors(index: faiss.IndexIDMap2) -> tuple[np.ndarray, np.ndarray]:
    """(ids, decoded vectors) of everything in the index, in storage order."""
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    if len(ids) == 0:
        return ids, np.zeros((0, index.d), dtype=np.float32)
    return ids, index.index.reconstruct_n(0, index.ntotal)


def vectors_for(index: faiss.IndexIDMap2, ids: np.ndarray) -> np.ndarray:
    """Decoded vectors for the given ids (each must be present)."""
    if not len(ids):
        return np.zeros((0, index.d), np.float32)
    return index.reconstruct_batch(np.ascontiguousarray(ids, dtype=np.int64))
