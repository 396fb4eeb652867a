"""Average query expansion of ``--by style`` (issue 17; ``index.expansion``): the query's scores
plus a share of its best neighbours' scores,

    s'(q, x) = (s(q, x) + beta mean_{j in N_k(q)} s(j, x)) / (1 + beta)

N_k(q) the k items ``--by style`` ranks first for q (exact copies of q left out), s the ``--by
style`` score before it (fusion with the collection's colour weight, content discount, near-
duplicate rule); then the near-duplicate rule once more (the query's copies keep at least their
coarse cosine), as ``--by style`` scores. Variants: k 1-5 and beta 0.3 / 0.5 / 1; neighbours
weighted by their score cubed (alpha-QE, Radenovic et al. 2018); neighbours kept only when q is
among their 10 best (k-reciprocal); the expansion applied to the fusion before the discount (a
linear expansion of each component's query vector); and the components alone, expanded, for
comparison. Scored as the other sweeps are: the stored cosines of each set's index, today's
colour recomputed from the pixels. Mean and worst over --sets, --unseen reported only.

    python scripts/sweep_query_expansion.py [--sets ...] [--unseen ...] [--json out.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sweep_colour_agreement import (  # noqa: E402
    collection_colour_weight,
    mean_precision,
    style_scores,
    sweep_main,
)

from stylesim.evaluation.harness import Labelled, discounted_by_content  # noqa: E402
from stylesim.index.expansion import expanded_matrix, expansion_neighbours  # noqa: E402
from stylesim.index.policy import EXACT_COPY_CONTENT  # noqa: E402
from stylesim.index.search import near_duplicates_first  # noqa: E402

NEIGHBOURS = (1, 2, 3, 4, 5)
WEIGHTS = (0.3, 0.5, 1.0)
RECIPROCAL = 10


def best_of_rows(scores: np.ndarray, copies: np.ndarray, k: int) -> np.ndarray:
    """(n, k) positions of each row's k best scores, its copies left out (``expansion_neighbours``)."""
    return np.stack([expansion_neighbours(row, c, k) for row, c in zip(scores, copies, strict=True)])


def neighbour_weights(scores: np.ndarray, copies: np.ndarray, k: int, how: str) -> np.ndarray:
    """(n, n) weights of each query row's expansion neighbours, rows summing to 1 (or 0):
    ``plain`` the k best alike, ``cubed`` by score cubed, ``reciprocal`` only those that rank
    the query among their RECIPROCAL best."""
    n = len(scores)
    near = best_of_rows(scores, copies, k)
    w = np.zeros((n, n))
    rows = np.arange(n)[:, None]
    w[rows, near] = np.take_along_axis(scores, near, 1).clip(0, None) ** 3 if how == "cubed" else 1.0
    if how == "reciprocal":
        theirs = best_of_rows(scores, copies, RECIPROCAL)
        mutual = np.zeros((n, n), bool)
        mutual[rows, theirs] = True
        w *= mutual.T  # w[q, j] kept when q is among j's best
    normalised: np.ndarray = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
    return normalised


def weighted_expansion(scores: np.ndarray, w: np.ndarray, beta: float) -> np.ndarray:
    """(s + beta w @ s) / (1 + beta): each row plus its neighbours' rows weighted by ``w``."""
    expanded: np.ndarray = (scores + beta * (w @ scores)) / (1 + beta)
    return expanded


def before_discount(sims: dict[str, np.ndarray], colour: float, k: int, beta: float) -> np.ndarray:
    """The expansion of the fusion before the content discount and the near-duplicate rule (the
    neighbours chosen by the whole score)."""
    copies = sims["content"] >= EXACT_COPY_CONTENT
    w = neighbour_weights(style_scores(sims, colour), copies, k, "plain")
    fusion = (1 - colour) * sims["gram"] + colour * sims["colour"]
    fused = discounted_by_content(weighted_expansion(fusion, w, beta), sims["content"])
    return near_duplicates_first(fused, sims)


def set_rows(sims: dict[str, np.ndarray], labels: Labelled) -> dict[str, float]:
    """Every variant's mAP@10 on one set, the components alone (plain and expanded), and the colour
    weight."""
    colour = collection_colour_weight(sims)
    scores, copies = style_scores(sims, colour), sims["content"] >= EXACT_COPY_CONTENT
    rows = {"colour weight": colour, "today": mean_precision(scores, labels)}
    for k in NEIGHBOURS:
        for beta in WEIGHTS:
            found = near_duplicates_first(expanded_matrix(scores, copies, k, beta), sims)
            rows[f"k {k}, beta {beta:g}"] = mean_precision(found, labels)
    for k, beta in ((2, 0.5), (3, 0.5), (4, 0.5)):
        for how in ("cubed", "reciprocal"):
            w = neighbour_weights(scores, copies, k, how)
            found = near_duplicates_first(weighted_expansion(scores, w, beta), sims)
            rows[f"k {k}, beta {beta:g}, {how}"] = mean_precision(found, labels)
        rows[f"k {k}, beta {beta:g}, before the discount"] = mean_precision(
            before_discount(sims, colour, k, beta), labels
        )
    for alone in ("gram", "colour"):
        rows[f"{alone} alone"] = mean_precision(sims[alone], labels)
        expanded = expanded_matrix(sims[alone], copies, 3, 0.5)
        rows[f"{alone} alone, k 3, beta 0.5"] = mean_precision(expanded, labels)
    return rows


if __name__ == "__main__":
    sys.exit(sweep_main(__doc__ or "", set_rows))
