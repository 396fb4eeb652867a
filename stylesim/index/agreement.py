"""How far the Gram matrices and the colour histogram agree about a collection, which sets the
colour weight of ``--by style`` (policy: STYLE_COLOUR_WEIGHT_RANGE):

    a = (o - c) / (1 - c),   o = mean over sampled items x of |N_gram(x) ∩ N_colour(x)| / k,
    N_d(x) = the k items nearest to x by descriptor d (x itself left out), c = k / (n - 1)

c is the overlap two unrelated neighbour lists have by chance in a collection of n items (as
Cohen's kappa corrects agreement for chance): a folder of a dozen pictures overlaps by 0.45
with nothing in common, a large collection by ~0.

Where colour and the Gram matrices find the same neighbours (crops of one pattern, of one
painting, copies), colour is evidence of the look and earns weight; where they find different
ones (icon themes: colour follows what an icon shows; recoloured patterns: colour follows the
palette change) it earns little. A property of the whole collection, measured at each commit
that adds, removes or re-standardises items (``index.writing.commit``) over the items of a fixed
sample, searching all of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from stylesim.index.policy import STYLE_AGREEMENT_NEIGHBOURS, STYLE_COLOUR_WEIGHT_RANGE

if TYPE_CHECKING:
    from stylesim.index.backend import SearchBackend

AGREEMENT_DESCRIPTORS = ("gram", "colour")


def neighbour_agreement(first: np.ndarray, second: np.ndarray) -> float:
    """Mean over rows of the share of ``first``'s ids (-1: none) that ``second``'s row holds too."""
    shares = [
        len(set(a[a >= 0].tolist()) & set(b[b >= 0].tolist())) / max(int((a >= 0).sum()), 1)
        for a, b in zip(first, second, strict=True)
    ]
    return float(np.mean(shares)) if shares else 0.0


def beyond_chance(overlap: float, k: int, items: int) -> float:
    """(o - c) / (1 - c), c = k / (items - 1): the overlap above what chance gives (module docstring)."""
    chance = k / (items - 1)
    return (overlap - chance) / (1.0 - chance)


def without_themselves(ids: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Each row's first ``k`` ids other than its query's own id (-1 where fewer)."""
    out = np.full((len(ids), k), -1, np.int64)
    for row, (found, own) in enumerate(zip(ids, queries, strict=True)):
        others = found[(found != own) & (found >= 0)][:k]
        out[row, : len(others)] = others
    return out


def collection_agreement(
    store: SearchBackend, sample: np.ndarray, k: int = STYLE_AGREEMENT_NEIGHBOURS
) -> float | None:
    """``a`` of the module docstring over the items ``sample`` (None when the collection lacks
    either descriptor or has too few items for more than k neighbours)."""
    if not set(AGREEMENT_DESCRIPTORS) <= set(store.descriptors) or len(store) <= k + 1:
        return None
    sample = np.asarray(sample, np.int64)
    found = []
    for name in AGREEMENT_DESCRIPTORS:
        _, ids = store.nearest(name, store.vectors_of(name, sample), k + 1)
        found.append(without_themselves(ids, sample, k))
    return beyond_chance(neighbour_agreement(found[0], found[1]), k, len(store))


def colour_weighted(weights: dict[str, float], agreement: float | None) -> dict[str, float]:
    """``weights`` (summing to 1) with colour's set to the agreement clipped to
    STYLE_COLOUR_WEIGHT_RANGE and the others scaled to fill the rest; unchanged without colour,
    without another descriptor, or without a measured agreement (an index committed before
    2026-12-06)."""
    if agreement is None or "colour" not in weights or len(weights) < 2:
        return weights
    colour = float(np.clip(agreement, *STYLE_COLOUR_WEIGHT_RANGE))
    rest = 1.0 - weights["colour"]
    return {n: colour if n == "colour" else w * (1.0 - colour) / rest for n, w in weights.items()}
