"""Approximate nearest-neighbour indexes for large segments, chosen as autofaiss does and tuned
when they are built.

Choice (``--index-type auto``), per segment of n items and space of d dimensions:

    n < EXACT_BELOW (1 000)   no index: exact search over the memory-mapped float16 vectors
    otherwise                 "PCA{p},IVF{k},SQ8": the vectors rotated onto their p = min(256, d)
                              principal axes, k ~ 4 sqrt(n) inverted lists (a power of two,
                              at most the k-means sample of min(n, TRAIN_ITEMS) / 39: 1 680
                              from 65 536 items on), 8-bit codes (p bytes an item);
                              memory-mapped when searched, so a million items are not loaded
                              into memory
    with --memory M           the same with product-quantised codes ("PQ{m}", m bytes an item,
                              m in 64, 32, 16, 8) when p-byte codes would take over M / 2

``flat`` forces exact search, ``ivf`` the IVF index whatever n, ``hnsw`` an in-memory HNSW32
graph (refused when it would not fit the memory budget), and any other text is a FAISS
``index_factory`` string, used as given.

Tuning: recall@10 against exact search is measured on up to TUNE_QUERIES items of the segment as
queries (each left out of its own results), the candidates re-scored exactly as the search does
(its top f x max(10 k, 256) -> top 10); a found item whose exact score ties the 10th true one
counts (exact copies make the last places arbitrary), and in the relative space the items with
versions and those without must each reach the target (each of at least MIN_STRATUM queries; a
smaller group is judged with the rest, in the mean). For each candidate factor f in FACTORS
the search parameter (nprobe for IVF, efSearch for HNSW) doubles until recall@10 >= TUNE_TARGET;
the setting that touches the fewest bytes per query (codes scanned plus candidates re-read) wins.
The parameter, the factor and the measured recall are recorded with the segment (``stylesim
info`` shows them). A search that asks for more candidates than the tuned depth scales the
parameter up in proportion.

TUNE_TARGET is above the promised TARGET_RECALL because the recall measured on TUNE_QUERIES items
is an estimate (its standard error is about 0.01), and queries unlike the sampled items (the real
pictures among synthetic ones in ``scripts/bench_scale.py``) fall below it: a setting tuned to
just 0.95 gave them 0.94.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from stylesim.errors import UsageError

EXACT_BELOW = 1_000
FACTORS = (1, 2, 4, 8)
TARGET_RECALL = 0.95  # promised recall@10 against exact search
TUNE_TARGET = 0.97  # what tuning asks of its sample (module docstring)
TIE = 1e-5  # exact scores this close to the k-th true score are a tie with it
TUNE_QUERIES = 200
MIN_STRATUM = 20  # queries a stratum needs to be held to the target on its own
TRAIN_ITEMS = 65_536
MIN_POINTS_PER_LIST = 39  # FAISS's k-means warns, and clusters poorly, with fewer
INDEX_TYPES = ("auto", "flat", "ivf", "hnsw")
SEARCH_THREADS_FROM = 8  # queries searched together from which FAISS uses every core (search_threads)


@dataclass(frozen=True)
class Tuning:
    factory: str
    param: str  # "nprobe", "efSearch" or "" (nothing to tune)
    value: int
    recall: float  # recall@10 measured against exact search
    factor: int = 1  # candidates taken: factor x candidates_for(k), all re-scored


@contextmanager
def search_threads(queries: int) -> Iterator[None]:
    """FAISS on one thread (this thread's OpenMP setting, restored after) while searching fewer
    than SEARCH_THREADS_FROM queries: a single query's IVF probes and candidate re-scoring are
    too small to share, and the threads' hand-offs cost more than they save (measured in
    docs/scale.md, "100 000 items")."""
    if queries >= SEARCH_THREADS_FROM:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


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
        lists = min(lists, max(1, min(n, TRAIN_ITEMS) // MIN_POINTS_PER_LIST))  # what k-means can fit
        return f"PCA{axes},IVF{lists},{codes_for(n, axes, memory_bytes)}"
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
    factory: str,
    dim: int,
    sample: Callable[[], np.ndarray],
    chunks: Iterator[tuple[np.ndarray, np.ndarray]],
    trained: faiss.Index | None = None,
) -> faiss.Index:
    """Train on ``sample()`` (float32 rows), or start from ``trained`` (an empty index trained
    elsewhere: ``emptied``), and add every (ids, vectors) chunk."""
    index = trained if trained is not None else train(factory, dim, sample())
    for ids, vectors in chunks:
        index.add_with_ids(np.ascontiguousarray(vectors, np.float32), np.ascontiguousarray(ids, np.int64))
    return index


def train(factory: str, dim: int, sample: np.ndarray) -> faiss.Index:
    """An empty index made by ``factory``, trained on ``sample``."""
    sample = np.ascontiguousarray(sample, np.float32)
    index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    if isinstance(index, faiss.IndexPreTransform):
        pretrain_pca(index, sample)
    if not _supports_ids(index):
        index = faiss.IndexIDMap(index)
    index.train(sample)
    return index


def emptied(index: faiss.Index) -> faiss.Index | None:
    """``index`` (a copy of its own, e.g. freshly loaded) with its inverted lists emptied: trained
    as it was (PCA, coarse centroids, the codes' ranges or codebooks) and holding no vector, so
    that a new segment of the same collection adds its vectors without training. None for an
    index with nothing trained to reuse (HNSW, flat)."""
    try:
        ivf = faiss.extract_index_ivf(index)
    except RuntimeError:
        return None
    lists = faiss.ArrayInvertedLists(ivf.nlist, ivf.code_size)
    ivf.replace_invlists(lists, True)
    lists.this.disown()  # type: ignore[attr-defined]  # owned by the index now
    ivf.ntotal = index.ntotal = 0
    return index


def same_family(factory: str, other: str) -> bool:
    """Whether two factory strings differ at most in their number of inverted lists."""
    return re.sub(r"IVF\d+", "IVF", factory) == re.sub(r"IVF\d+", "IVF", other)


def principal_axes(
    sample: np.ndarray, axes: int, iterations: int = 4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, the ``axes`` leading principal axes as rows, their eigenvalues) of ``sample``,
    by randomised subspace iteration (Halko, Martinsson & Tropp 2011, alg. 4.4):
    Q = orth(X^T X G), Q <- orth(X^T X Q) ``iterations`` times, then the eigenvectors of
    Q^T X^T X Q, with X the centred sample and G Gaussian (axes + 64 columns)."""
    mean = sample.mean(axis=0)
    centred = sample - mean
    gaussian = np.random.default_rng(0).standard_normal((sample.shape[1], axes + 64)).astype(np.float32)
    basis = np.linalg.qr(centred.T @ (centred @ gaussian))[0]
    for _ in range(iterations):
        basis = np.linalg.qr(centred.T @ (centred @ basis))[0]
    values, vectors = np.linalg.eigh(basis.T @ (centred.T @ (centred @ basis)))
    order = np.argsort(values)[::-1][:axes]
    return mean, np.ascontiguousarray((basis @ vectors[:, order]).T, np.float32), values[order]


def pretrain_pca(index: faiss.IndexPreTransform, sample: np.ndarray) -> None:
    """Fit the index's leading PCA transform with ``principal_axes`` (FAISS's own fit takes a
    full eigendecomposition of the d x d covariance on one core: minutes at d = 4480)."""
    transform = faiss.downcast_VectorTransform(index.chain.at(0))  # type: ignore[attr-defined]
    if not isinstance(transform, faiss.PCAMatrix) or transform.is_trained:
        return
    if transform.eigen_power != 0 or transform.random_rotation or len(sample) <= transform.d_out:
        return  # variants FAISS fits itself
    mean, rows, values = principal_axes(sample, transform.d_out)
    faiss.copy_array_to_vector(mean.astype(np.float32), transform.mean)
    faiss.copy_array_to_vector(rows.ravel(), transform.PCAMat)
    faiss.copy_array_to_vector(values.astype(np.float32), transform.eigenvalues)
    transform.prepare_Ab()
    transform.is_trained = True


def _supports_ids(index: faiss.Index) -> bool:
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexPreTransform) else index
    return isinstance(faiss.downcast_index(inner), faiss.IndexIVF)


def search_param(index: faiss.Index) -> str:
    """The parameter that trades speed for recall in ``index`` ("" if none)."""
    parameters = faiss.ParameterSpace()
    for name in ("nprobe", "efSearch"):
        try:
            parameters.set_index_parameter(index, name, 1)
        except RuntimeError:
            continue
        return name
    return ""


def param_limit(index: faiss.Index, param: str) -> int:
    """The largest useful value of the search parameter (every inverted list; a wide beam)."""
    if param == "nprobe":
        return max(1, int(faiss.extract_index_ivf(index).nlist))
    return 4096 if param == "efSearch" else 1


def search_parameters(
    index: faiss.Index, param: str, value: int, skip: np.ndarray | None = None
) -> faiss.SearchParameters | None:
    """Per-call search parameters (threads may search one index with different values), and
    the ids to leave out."""
    classes: Any = faiss  # the constructors take keyword arguments (and keep the nested ones alive)
    options: dict[str, Any] = {}
    if skip is not None:
        options["sel"] = classes.IDSelectorNot(classes.IDSelectorBatch(np.asarray(skip, np.int64)))
    if param == "nprobe":
        inner = classes.SearchParametersIVF(nprobe=value, **options)
    elif param == "efSearch":
        inner = classes.SearchParametersHNSW(efSearch=value, **options)
    elif options:
        inner = classes.SearchParameters(**options)
    else:
        return None
    if isinstance(index, faiss.IndexPreTransform):
        return classes.SearchParametersPreTransform(index_params=inner)  # type: ignore[no-any-return]
    return inner  # type: ignore[no-any-return]


def search(
    index: faiss.Index,
    queries: np.ndarray,
    count: int,
    param: str,
    value: int,
    skip: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The approximate top ``count`` (scores, ids) with the parameter at ``value``, the ids
    in ``skip`` left out."""
    params = search_parameters(index, param, min(value, param_limit(index, param)), skip)
    q = np.ascontiguousarray(queries, np.float32)
    scores, ids = index.search(q, count, params=params) if params is not None else index.search(q, count)
    return scores, ids


Rescore = Callable[
    [np.ndarray, np.ndarray], np.ndarray
]  # (query rows, candidate ids (q, c)) -> exact scores (q, c)


def tune(
    index: faiss.Index,
    factory: str,
    queries: tuple[np.ndarray, np.ndarray],
    truth: tuple[np.ndarray, np.ndarray],
    rescore: Rescore,
    k: int = 10,
    strata: np.ndarray | None = None,
) -> Tuning:
    """The cheapest (parameter, candidate factor) reaching TUNE_TARGET (module docstring):
    for each factor in FACTORS the parameter doubles from 1 until the recall is reached or the
    work exceeds the cheapest found. ``queries`` = (ids, vectors) of items of the index, held
    out of their own results; ``truth`` = (scores, ids) of each query's exact top ``k`` + 1;
    ``strata`` labels kinds of queries, each of which must reach the target. Without any
    setting reaching the target, the one with the best recall."""
    param, dim = search_param(index), queries[1].shape[1]
    limit = param_limit(index, param)
    best: tuple[float, Tuning] | None = None
    fallback = Tuning(factory, param, 1, -1.0)
    for factor in FACTORS:
        value = 1
        while True:
            recall = measure(index, queries, truth, rescore, k, (param, value, factor), strata)
            cost = work(index, param, value, factor * candidates_for(k), dim)
            if recall >= TUNE_TARGET:
                if best is None or cost < best[0]:
                    best = (cost, Tuning(factory, param, value, recall, factor))
                break
            if recall > fallback.recall:
                fallback = Tuning(factory, param, value, recall, factor)
            if value >= limit or (best is not None and cost >= best[0]):
                break
            value = min(limit, value * 2)
    return best[1] if best is not None else fallback


def work(index: faiss.Index, param: str, value: int, candidates: int, dim: int) -> float:
    """Bytes a query touches: the codes scanned (IVF: the lists probed; HNSW: the beam's
    neighbours' vectors) plus the candidates' float16 vectors read to re-score them."""
    rescoring = candidates * dim * 2
    if param == "nprobe":
        ivf = faiss.extract_index_ivf(index)
        return index.ntotal * ivf.code_size * value / ivf.nlist + rescoring
    if param == "efSearch":
        return value * 32 * dim * 4 + rescoring
    return index.ntotal * dim + rescoring


def measure(
    index: faiss.Index,
    queries: tuple[np.ndarray, np.ndarray],
    truth: tuple[np.ndarray, np.ndarray],
    rescore: Rescore,
    k: int,
    setting: tuple[str, int, int],
    strata: np.ndarray | None = None,
) -> float:
    """Recall@k (``recall_with_ties``), each query's own id left out, of the search (``setting``
    = (parameter, value, candidate factor); the candidates re-scored exactly) against ``truth``:
    the mean over queries, or the lowest stratum's mean."""
    (param, value, factor), (ids, vectors) = setting, queries
    _, found = search(index, vectors, factor * candidates_for(k) + 1, param, value)
    found = np.where(found == ids[:, None], -1, found)
    scores = np.where(found >= 0, rescore(vectors, found), -np.inf)
    best = np.argsort(-scores, axis=1)[:, :k]
    top_ids, top_scores = np.take_along_axis(found, best, axis=1), np.take_along_axis(scores, best, axis=1)
    recalls = []
    for own, row_ids, row_scores, true_ids, true_scores in zip(
        ids, top_ids, top_scores, *truth[::-1], strict=True
    ):
        kept = (true_ids != own) & (true_ids >= 0)  # not the query, nor the padding of a small segment
        recalls.append(recall_with_ties(row_ids, row_scores, true_ids[kept][:k], true_scores[kept][:k]))
    return stratified_recall(np.asarray(recalls), strata)


def stratified_recall(per_query: np.ndarray, strata: np.ndarray | None = None) -> float:
    """The mean recall, or the lowest mean of the strata of MIN_STRATUM queries or more (a
    smaller stratum's mean is too noisy to hold the parameter to: it is judged in the mean)."""
    if strata is None:
        return float(per_query.mean())
    labels, counts = np.unique(strata, return_counts=True)
    judged = labels[counts >= MIN_STRATUM]
    return float(min([per_query.mean()] + [per_query[strata == label].mean() for label in judged]))


def recall_with_ties(
    found: np.ndarray, found_scores: np.ndarray, true: np.ndarray, true_scores: np.ndarray
) -> float:
    """|found ∩ true| / k, where a found item outside ``true`` also counts when its exact score
    ties the k-th true score (within TIE): with exact copies in a collection, which of the tied
    items fill the last places is arbitrary."""
    if not len(true):
        return 1.0  # nothing to find
    hits = np.isin(found, true) & (found >= 0)
    tied = ~hits & (found >= 0) & (np.abs(found_scores - true_scores[-1]) <= TIE)
    return min(len(true), int(hits.sum() + tied.sum())) / len(true)


def save(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def load(path: Path) -> faiss.Index:
    """Memory-mapped where FAISS can (IVF indexes), read into memory otherwise."""
    try:
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError:
        return faiss.read_index(str(path))
