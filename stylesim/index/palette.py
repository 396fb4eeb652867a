"""The palette match of ``--by style``: where two pictures' colour histograms all but coincide,
the colour vouches for part of what the other components leave unexplained,

    s(q, x) = sum_i w_i cos_i(q, x) + w_c gamma m(c) (1 - r),
    m(c)    = clip((c - tau) / (1 - tau), 0, 1),    c = cos_colour(q, x),
    r       = sum_{i != colour} w_i cos_i(q, x) / sum_{i != colour} w_i

w the fusion's weights (w_c the colour's), r the other components' fused cosine, tau =
``policy.PALETTE_MATCH_COSINE``, gamma = ``policy.PALETTE_MATCH_SHARE``. Below tau the fusion is
unchanged; above it the histogram's last differences decide much more than the weight w_c alone
lets them (crops of one stone pattern at 0.999 against a like-coloured other stone at 0.995,
whose grain the Gram matrices see at another scale). Taking a share of 1 - r rather than adding
a constant keeps s at most 1 wherever r is (since w_c (1 + gamma) <= 1 for the colour weights
``--by style`` gives).

Pure functions over score arrays: the search applies them to each query's candidates
(``index.search``), the evaluation to its square score matrices.
"""

from __future__ import annotations

import numpy as np

from stylesim.index.policy import PALETTE_MATCH_COSINE, PALETTE_MATCH_SHARE


def palette_match(
    colour: np.ndarray,
    rest: np.ndarray,
    colour_weight: float | np.ndarray,
    share: float = PALETTE_MATCH_SHARE,
    threshold: float = PALETTE_MATCH_COSINE,
) -> np.ndarray:
    """The term w_c gamma m(c) (1 - r) for colour cosines ``colour`` and the other components'
    fused cosines ``rest`` (arrays of one shape; ``colour_weight`` one, or one per row)."""
    match = np.clip((colour - threshold) / (1.0 - threshold), 0.0, 1.0)
    term: np.ndarray = colour_weight * share * match * (1.0 - rest)
    return term


def with_palette_match(
    fused: np.ndarray, scores: dict[str, np.ndarray], weights: dict[str, float]
) -> np.ndarray:
    """``fused`` (the weighted sum of ``scores`` by ``weights``) plus the palette-match term;
    unchanged when the weights give colour no weight, or weigh nothing but colour."""
    colour_weight = weights.get("colour", 0.0)
    others = {n: w for n, w in weights.items() if n != "colour" and w}
    if not colour_weight or not others:
        return fused
    rest = np.sum([w * scores[n] for n, w in others.items()], axis=0) / sum(others.values())
    matched: np.ndarray = fused + palette_match(scores["colour"], rest, colour_weight).astype(fused.dtype)
    return matched
