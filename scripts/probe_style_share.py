"""A third component in the Gram matrices' share of ``--by style`` (issue 17): the coarse Gram
matrices (the picture at 96², stored for the near-duplicate rule) or the AdaIN statistics, each
given a share b of what today's fusion gives the Gram matrices:

    style = (1 - w) ((1 - b) gram + b other) + w colour,   w = clip(a, 0.1, 0.5)

with a the collection's colour agreement (``index.agreement``), then the content discount and the
near-duplicate rule, as ``--by style`` scores. The icons are the one set where no colour weight
lets the fusion beat the Gram matrices alone (docs/retrieval.md): a second view of the look is
what could. Scored as the other sweeps are: the stored cosines of each set's index, today's
colour recomputed from the pixels. Mean and worst over --sets, --unseen reported only.

    python scripts/probe_style_share.py [--sets ...] [--unseen ...] [--json out.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sweep_colour_agreement import collection_colour_weight, style_map, sweep_main  # noqa: E402

from stylesim.evaluation.harness import Labelled  # noqa: E402

SHARES = (0.1, 0.2, 0.3, 0.5)
OTHERS = ("coarse", "adain")


def shared(sims: dict[str, np.ndarray], other: str, share: float) -> dict[str, np.ndarray]:
    """``sims`` with the Gram cosines replaced by (1 - share) gram + share other."""
    return {**sims, "gram": (1 - share) * sims["gram"] + share * sims[other]}


def set_rows(sims: dict[str, np.ndarray], labels: Labelled) -> dict[str, float]:
    """Every variant's mAP@10 on one set, the components alone, and the colour weight."""
    colour = collection_colour_weight(sims)
    rows = {"colour weight": colour, "today": style_map(sims, labels, colour)}
    for other in OTHERS:
        rows.update({f"{other} {b:g}": style_map(shared(sims, other, b), labels, colour) for b in SHARES})
    for alone in ("gram", *OTHERS):
        rows[f"{alone} alone"] = style_map(shared(sims, alone, 1.0), labels, 0.0)
    return rows


if __name__ == "__main__":
    sys.exit(sweep_main(__doc__ or "", set_rows))
