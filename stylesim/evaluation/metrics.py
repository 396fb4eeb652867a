"""Ranking metrics for labelled retrieval (queries are held out from their own result lists).

For one query with relevance list rel_1..rel_n (1 where result i shares the query's label)
and R relevant items in the database:

    P@k        = (1/k) sum_{i<=k} rel_i
    AP@k       = (1 / min(R, k)) sum_{i<=k} P@i * rel_i      (standard AP truncated at k)
    CSD mAP@k  = (1/k) sum_{j<=k} P@j                        (Somepalli et al. 2024, "mAP@k")
    Recall@k   = 1 if any rel_i = 1 for i <= k               (CSD's Recall@k: hit rate)

Each is averaged over queries. "Leakage" is P@k measured with the *other* label (a style query
that returns the same photo, a content query that returns the same look).
"""

from __future__ import annotations

import numpy as np


def precision_at_k(rel: np.ndarray, k: int) -> float:
    return float(np.asarray(rel[:k], dtype=np.float64).sum() / k)


def average_precision_at_k(rel: np.ndarray, k: int, n_relevant: int) -> float:
    rel = np.asarray(rel[:k], dtype=np.float64)
    if n_relevant == 0:
        return 0.0
    precisions = np.cumsum(rel) / np.arange(1, len(rel) + 1)
    return float((precisions * rel).sum() / min(n_relevant, k))


def csd_map_at_k(rel: np.ndarray, k: int) -> float:
    rel = np.asarray(rel[:k], dtype=np.float64)
    return float((np.cumsum(rel) / np.arange(1, len(rel) + 1)).sum() / k)


def recall_at_k(rel: np.ndarray, k: int) -> float:
    return float(np.asarray(rel[:k]).any())


def ranking_from_scores(scores: np.ndarray) -> np.ndarray:
    """Rank every database item for every query (self excluded): scores is (Q, Q) over the
    same items; returns (Q, Q-1) indices, best first (ties broken by index, stable)."""
    s = np.array(scores, dtype=np.float64, copy=True)
    np.fill_diagonal(s, -np.inf)
    order = np.argsort(-s, axis=1, kind="stable")
    return order[:, :-1]


def evaluate_rankings(
    ranking: np.ndarray, labels: np.ndarray, other: np.ndarray | None = None, ks: tuple[int, ...] = (1, 5, 10)
) -> dict[str, float]:
    """Mean metrics of rankings (Q, n) of the same items, by ``labels`` (and leakage by
    ``other``); items with an empty label are not used as queries."""
    labels = np.asarray(labels, dtype=object)
    out: dict[str, list[float]] = {}
    for q in range(ranking.shape[0]):
        if labels[q] in ("", None):
            continue
        rel = labels[ranking[q]] == labels[q]
        n_rel = int((labels == labels[q]).sum() - 1)
        if n_rel == 0:
            continue
        for k in ks:
            out.setdefault(f"P@{k}", []).append(precision_at_k(rel, k))
            out.setdefault(f"Recall@{k}", []).append(recall_at_k(rel, k))
            out.setdefault(f"CSD-mAP@{k}", []).append(csd_map_at_k(rel, k))
        out.setdefault("mAP@10", []).append(average_precision_at_k(rel, 10, n_rel))
        if other is not None and other[q] not in ("", None):
            leak = np.asarray(other, dtype=object)[ranking[q]] == other[q]
            out.setdefault("leakage@5", []).append(precision_at_k(leak, 5))
    return {key: float(np.mean(vals)) for key, vals in out.items()}
