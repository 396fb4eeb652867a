"""How flat a border must be to count as a plain canvas in the colour descriptor (issue 17).

Today's colour histogram weighs a plain canvas at most as much as the drawing on it
(``ops.canvas_at_most_foreground``): the canvas is every pixel within ``PLAIN_TOLERANCE`` (24
levels) of the border's median colour, when at least ``PLAIN_BORDER_SHARE`` (half) of the border
is. The pictures AdaIN restyles keep smooth regions (a sky, a wall) that pass 24 levels, so their
palette loses those regions. This probe varies both constants and scores ``--by style`` as the
other sweeps do (the stored Gram and content cosines of each set's index, the colour weight
clip(a, 0.1, 0.5) from the variant's own agreement, the content discount and the near-duplicate
rule), and the colour descriptor alone. Mean and worst over --sets, --unseen reported only.

    python scripts/probe_canvas_tolerance.py [--sets ...] [--unseen ...] [--json out.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from probe_colour_richness import canvas_balanced_colour, pictures_of  # noqa: E402
from sweep_colour_agreement import collection_colour_weight, style_map, sweep_main  # noqa: E402

from stylesim.evaluation.harness import Labelled  # noqa: E402

TOLERANCES = (24, 8, 3)  # 8-bit levels
BORDER_SHARES = (0.5, 0.8, 0.95)


def set_rows(sims: dict[str, np.ndarray], labels: Labelled) -> dict[str, float]:
    """Every variant's colour weight and mAP@10 on one set, fused and alone."""
    pictures, rows = pictures_of(labels.paths), {}
    for tolerance in TOLERANCES:
        for border_share in BORDER_SHARES:
            variant = {**sims, "colour": canvas_balanced_colour(pictures, border_share, tolerance)}
            weight = collection_colour_weight(variant)
            name = f"tolerance {tolerance}, border {border_share:g}"
            rows[f"{name}: colour weight"] = weight
            rows[f"{name}: --by style"] = style_map(variant, labels, weight)
            rows[f"{name}: colour alone"] = style_map(variant, labels, 1.0)
    return rows


if __name__ == "__main__":
    sys.exit(sweep_main(__doc__ or "", set_rows, todays_colour=False))
