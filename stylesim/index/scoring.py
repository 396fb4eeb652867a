"""Exact inner products of a query (or a few) with stored float16 vectors, the re-scoring step of every
search: s_i = <x_i, q> for the candidates' rows x_i (float16, as stored) and a float32 query q,
accumulated in float32.

The rows are not converted to float32 first: FAISS's float16 scalar quantizer
(``IndexScalarQuantizer`` with ``QT_fp16``) decodes them inside its SIMD distance loop, which is
an order of magnitude faster than numpy's float16 -> float32 cast followed by a product
(docs/serving.md); the products are the same to float32 rounding.
"""

from __future__ import annotations

import threading

import faiss
import numpy as np

_SCORERS = threading.local()  # per thread: {dim: scorer}, its code buffer reused between calls


def scorer_for(dim: int) -> faiss.IndexScalarQuantizer:
    """This thread's float16 scorer of ``dim`` dimensions (a new one would allocate and
    zero-fill its code buffer on every call, which costs more than the scoring)."""
    scorers: dict[int, faiss.IndexScalarQuantizer] = _SCORERS.__dict__.setdefault("by_dim", {})
    if dim not in scorers:
        quantizer, metric = faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        scorers[dim] = faiss.IndexScalarQuantizer(dim, quantizer, metric)
    return scorers[dim]


def inner_products(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """<x_i, q> (float32) for each float16 row x_i of ``rows`` (n x d) and the query q (d): (n,);
    for several queries (m x d) at once, (m, n)."""
    n, dim = rows.shape
    if n == 0:
        return np.zeros((*np.shape(query)[:-1], 0), np.float32)
    queries = np.asarray(query, np.float32).reshape(-1, dim)
    out = np.full((len(queries), n), np.nan, np.float32)  # a row FAISS returns no score for stays NaN
    scorer = scorer_for(dim)
    codes = np.ascontiguousarray(rows, dtype=np.float16).view(np.uint8).ravel()
    faiss.copy_array_to_vector(codes, scorer.codes)
    scorer.ntotal = n
    scores, order = scorer.search(queries, n)
    for row, (s, o) in enumerate(zip(scores, order, strict=True)):
        found = o >= 0
        out[row, o[found]] = s[found]
    return out.reshape(*np.shape(query)[:-1], n)
