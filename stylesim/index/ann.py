"""Approximate nearest-neighbour indexes for large segments, chosen as autofaiss does and tuned
when they are built.

Choice (``--index-type auto``), per segment of n items and space of d dimensions:

    n < EXACT_BELOW (20 000)  no index: exact search over the memory-mapped float16 vectors
    otherwise                 "PCA{p},IVF{k},SQ8": the vectors rotated onto their p = min(256, d)
                              principal axes, k ~ 4 sqrt(n) inverted lists (a power of two),
                              8-bit codes (p bytes an item); memory-mapped when searched, so a
                              million items are not loaded into memory
    with --memory M           the same with product-quantised codes ("PQ{m}", m bytes an item,
                              m in 64, 32, 16, 8) when p-byte codes would take over M / 2

``flat`` forces exact search, ``ivf`` the IVF index whatever n, ``hnsw`` an in-memory HNSW32
graph (refused when it would not fit the memory budget), and any other text is a FAISS
``index_factory`` string, used as given.

Tuning: the search parameter (nprobe for IVF, efSearch for HNSW) is doubled until recall@10 >=
TARGET_RECALL against exact search, on up to TUNE_QUERIES items of the segment as queries, with
the candidates re-scored exactly as the search does (its top max(10 k, 256) -> top 10). The
parameter and the measured recall are recorded with the segment (``stylesim info`` shows them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from stylesim.errors import UsageError

EXACT_BELOW = 20_000
TARGET_RECALL = 0.95
TUNE_QUERIES = 200
TRAIN_ITEMS = 65_536
INDEX_TYPES = ("auto", "flat", "ivf", "hnsw")


@dataclass(frozen=True)
class Tuning:
    factory: str
    param: str  # "nprobe", "efSearch" or "" (nothing to tune)
    value: int
    recall: float  # recall@10 measured against exact search


def candidates_for(k: int) -> int:
    """How many candidates a search takes before exact re-scoring."""
    return max(10 * k, 256)


def choose(n: int, dim: int, index_type: str = "auto", memory_bytes: int | None = None) -> str | None:
    """The factory string for a segment of ``n`` vectors of ``dim`` (None: exact search)."""
    if index_type in ("flat",) or (index_type == "auto" and n < EXACT_BELOW):
        return None
    if index_type in ("auto", "ivf"):
        lists = 2 ** max(6, min(16, round(math.log2(max(1.0, 4 * math.sqrt(n))))))
        axes = min(256, dim)
        return f"PCA{axes},IVF{min(lists, max(1, n // 39))},{codes_for(n, axes, memory_bytes)}"
    if index_type == "hnsw":
        needed = n * (4 * dim + 32 * 2 * 8)
        if memory_bytes is not None and needed > memory_bytes:
            raise UsageError(
                f"--index-type hnsw: {n} items need about {needed / 2**30:.1f} GiB in memory, "
                "more than --memory allows; use ivf"
            )
        return "HNSW32"
    try:
        faiss.index_factory(dim, index_type, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError:
        raise UsageError(
            f"--index-type {index_type!r}: use auto, flat, ivf, hnsw or a FAISS index_factory string"
        ) from None
    return index_type


def codes_for(n: int, axes: int, memory_bytes: int | None) -> str:
    """SQ8 codes, or the largest PQ codes that keep n items within half the memory budget."""
    if memory_bytes is None or n * axes <= memory_bytes / 2:
        return "SQ8"
    fitting = [m for m in (64, 32, 16, 8) if axes % m == 0 and n * m <= memory_bytes / 2]
    return f"PQ{fitting[0] if fitting else 8}"


def check_index_type(index_type: str) -> str:
    """``index_type`` if it names a choice or a valid FAISS factory string; UsageError otherwise."""
    if index_type not in INDEX_TYPES:
        choose(EXACT_BELOW, 64, index_type)
    return index_type


def build(
    factory: str, dim: int, sample: np.ndarray, chunks: Iterator[tuple[np.ndarray, np.ndarray]]
) -> faiss.Index:
    """Train on ``sample`` (float32 rows) and add every (ids, vectors) chunk."""
    index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    if not _supports_ids(index):
        index = faiss.IndexIDMap(index)
    index.train(np.ascontiguousarray(sample, np.float32))
    for ids, vectors in chunks:
        index.add_with_ids(np.ascontiguousarray(vectors, np.float32), np.ascontiguousarray(ids, np.int64))
    return index


def _supports_ids(index: faiss.Index) -> bool:
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexPreTransform) else index
    return isinstance(faiss.downcast_index(inner), faiss.IndexIVF)


def search_param(index: faiss.Index) -> str:
    """The parameter that trades speed for recall in ``index`` ("" if none); set to 1."""
    parameters = faiss.ParameterSpace()
    for name in ("nprobe", "efSearch"):
        try:
            parameters.set_index_parameter(index, name, 1)
        except RuntimeError:
            continue
        return name
    return ""


def set_param(index: faiss.Index, name: str, value: int) -> None:
    if name:
        faiss.ParameterSpace().set_index_parameter(index, name, value)


Rescore = Callable[
    [np.ndarray, np.ndarray], np.ndarray
]  # (query rows, candidate ids (q, c)) -> exact scores (q, c)


def tune(
    index: faiss.Index, factory: str, queries: np.ndarray, truth: np.ndarray, rescore: Rescore, k: int = 10
) -> Tuning:
    """The smallest search parameter reaching TARGET_RECALL (module docstring); ``truth`` holds
    each query's exact top ``k`` ids."""
    param = search_param(index)
    value, recall = 1, measure(index, queries, truth, rescore, k)
    limit = (
        4096
        if param == "efSearch"
        else max(1, faiss.extract_index_ivf(index).nlist if param == "nprobe" else 1)
    )
    while param and recall < TARGET_RECALL and value < limit:
        value = min(limit, value * 2)
        set_param(index, param, value)
        recall = measure(index, queries, truth, rescore, k)
    return Tuning(factory, param, value, recall)


def measure(
    index: faiss.Index, queries: np.ndarray, truth: np.ndarray, rescore: Rescore, k: int = 10
) -> float:
    """Mean recall@k of the search (candidates re-scored exactly) against ``truth``."""
    _, found = index.search(np.ascontiguousarray(queries, np.float32), candidates_for(k))
    scores = rescore(queries, found)
    scores = np.where(found >= 0, scores, -np.inf)
    top = np.take_along_axis(found, np.argsort(-scores, axis=1)[:, :k], axis=1)
    return float(np.mean([len(set(t) & set(r)) / k for t, r in zip(truth, top, strict=True)]))


def save(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def load(path: Path) -> faiss.Index:
    """Memory-mapped where FAISS can (IVF indexes), read into memory otherwise."""
    try:
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError:
        return faiss.read_index(str(path))
