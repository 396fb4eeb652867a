"""Search spaces: the vectors a candidate search compares.

- one per descriptor (``gram``, ``adain``, ``content``, ``colour``): its stored unit vectors;
- ``style``: the stacked weighted style vector s = [sqrt(w_g) gram, sqrt(w_a) adain,
  sqrt(w_c) colour] with the ``--by style`` weights (sum 1). Its inner product is the fused
  cosine, sum_i w_i cos_i, so one search finds the fused neighbours, and |s| = 1;
- ``style-relative``: each item's relative style vector (``index.relative``), which is its
  stacked style vector where it has no other versions.

Candidates come from a space (exactly, or from an approximate index for large segments, see
``index.ann``); the search then scores them exactly (``index.search``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from stylesim.index.policy import RELATIVE

STYLE = "style"


def style_weights(descriptors: Mapping[str, object], fusion: Mapping[str, float]) -> dict[str, float]:
    """The ``--by style`` weights ``fusion`` (the index's manifest records them) of the
    descriptors the index has, normalised to sum 1; a descriptor weighted 0 is left out."""
    weights = {n: w for n, w in fusion.items() if n in descriptors and w > 0}
    total = sum(weights.values())
    return {n: w / total for n, w in weights.items()} if total else {}


def space_names(descriptors: Mapping[str, object], fusion: Mapping[str, float]) -> list[str]:
    """Every space of an index with these descriptors and style weights."""
    names = [*descriptors]
    if style_weights(descriptors, fusion):
        names.append(STYLE)
        if "content" in descriptors:
            names.append(RELATIVE)
    return names


def stacked(vectors: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """[sqrt(w_i) v_i] along the rows: inner products are the weighted sums of cosines."""
    return np.concatenate(
        [np.sqrt(w) * np.asarray(vectors[n], np.float32) for n, w in weights.items()], axis=1
    )


def space_dim(space: str, dims: Mapping[str, int], fusion: Mapping[str, float]) -> int:
    """Dimensions of ``space`` for descriptors of these dimensions and style weights."""
    if space in (STYLE, RELATIVE):
        return sum(dims[n] for n in style_weights(dims, fusion))
    return dims[space]
