"""The palette match of ``--by style`` and the flat-border canvas test of the colour histogram
(issue 17; ``index.palette``, ``ops.canvas_at_most_foreground``; the defaults since 2026-12-07).

The crops of one GIMP pattern share its palette to the last bin: the colour histogram alone finds
them (0.99) where ``--by style`` did not (0.96), and a colour weight that would reach them costs
the sets whose palettes only resemble each other. Two levers:

- the canvas test: a picture's plain canvas (which the histogram counts at most as much as the
  drawing) now counts as a canvas in proportion to how flat its border is, from none at half
  the steps between neighbouring border pixels within 2 levels to fully at all of them ("flat
  from 0.5", today; "flat from 0.8" the same from 0.8); "flat border >= 0.9" is a first, hard
  version (a canvas only when 90 % of the steps are flat); before, the grain of a stone or paper
  pattern passed for a canvas ("any border");
- the palette match: s = fusion + w_c gamma clip((c - tau) / (1 - tau), 0, 1) (1 - g), g the Gram
  cosine; against it the same term added without the (1 - g) factor (unbounded), and capped
  variants that only lift a match to the full colour score.

Each variant's style mAP@10 as ``--by style`` scores: the stored whitened Gram and content
cosines, the colour recomputed from the pixels (the canvas test of the row), the collection's
colour weight from that colour, the content discount, the near-duplicate rule, the query
expansion, the near-duplicate rule again. Mean and worst over --sets, --unseen reported only.

    python scripts/sweep_palette_match.py [--sets ...] [--unseen ...] [--json out.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from probe_colour_richness import LEVELS, canvas_balanced_colour, pictures_of  # noqa: E402
from sweep_colour_agreement import collection_colour_weight, mean_precision, style_scores, sweep_main  # noqa: E402

from stylesim.descriptors import ops  # noqa: E402
from stylesim.evaluation.harness import (  # noqa: E402
    Labelled,
    centred_cosine,
    discounted_by_content,
    style_expanded,
)
from stylesim.index.search import near_duplicates_first  # noqa: E402

HARD_FLAT = 0.9  # the hard version: a canvas only when this share of the border steps is flat
THRESHOLDS = (0.9, 0.95, 0.97, 0.98)
SHARES = (0.25, 0.5, 1.0)


def expanded_style(scores: np.ndarray, sims: dict[str, np.ndarray]) -> np.ndarray:
    """``--by style``'s last steps on a score matrix: the query expansion, the near-duplicate rule."""
    return near_duplicates_first(style_expanded(scores, sims), sims)


def style_map(
    sims: dict[str, np.ndarray], w: float, palette: tuple[float, float] | None, labels: Labelled
) -> float:
    """mAP@10 of ``--by style`` with colour weight ``w`` and the palette match (tau, gamma) or none."""
    return mean_precision(expanded_style(style_scores(sims, w, palette), sims), labels)


def unbounded(sims: dict[str, np.ndarray], w: float, tau: float, gamma: float, capped: bool) -> np.ndarray:
    """The palette match added without its (1 - g) factor: fusion + w gamma m(c), or with the
    colour cosine only lifted up to 1 (``capped``: min(1, c + gamma m(c)) in place of c)."""
    match = np.clip((sims["colour"] - tau) / (1 - tau), 0, 1)
    colour = np.minimum(1.0, sims["colour"] + gamma * match) if capped else sims["colour"] + gamma * match
    fusion = (1 - w) * sims["gram"] + w * colour
    return near_duplicates_first(discounted_by_content(fusion, sims["content"]), sims)


def hard_flat_colour(pictures: list[torch.Tensor], share: float = HARD_FLAT) -> np.ndarray:
    """Centred colour cosines with the hard flat-border test: the canvas balanced as before when
    at least ``share`` of the border steps are flat, else every pixel alike."""
    histograms = [
        ops.colour_histogram(
            x, LEVELS, ops.canvas_at_most_foreground(x) if float(ops.flat_border(x)[0]) >= share else None
        )[0].numpy()
        for x in pictures
    ]
    return centred_cosine(np.stack(histograms))


def canvas_colours(pictures: list[torch.Tensor]) -> dict[str, np.ndarray]:
    """The colour cosines under each canvas test, by row name."""
    return {
        "any border (before)": canvas_balanced_colour(pictures, flat_from=None),
        f"flat border >= {HARD_FLAT:g}": hard_flat_colour(pictures),
        "flat from 0.8": canvas_balanced_colour(pictures, flat_from=0.8),
        "flat from 0.5": canvas_balanced_colour(pictures, flat_from=0.5),
    }


def canvas_rows(
    sims: dict[str, np.ndarray], labels: Labelled, name: str, colour: np.ndarray
) -> dict[str, float]:
    """The rows of one canvas test: the colour weight, colour alone, ``--by style`` without and
    with each palette match."""
    sims = {**sims, "colour": colour}
    w = collection_colour_weight(sims)
    rows = {
        f"{name}: colour weight": w,
        f"{name}: colour alone": mean_precision(sims["colour"], labels),
        f"{name}: no palette match": style_map(sims, w, None, labels),
    }
    for tau in THRESHOLDS:
        for gamma in SHARES:
            rows[f"{name}: palette match {tau:g} / {gamma:g}"] = style_map(sims, w, (tau, gamma), labels)
    for capped in (False, True):
        found = expanded_style(unbounded(sims, w, 0.97, 0.5, capped), sims)
        rows[f"{name}: 0.97 / 0.5 {'capped at 1' if capped else 'unbounded'}"] = mean_precision(found, labels)
    return rows


def set_rows(sims: dict[str, np.ndarray], labels: Labelled) -> dict[str, float]:
    """Every variant's mAP@10 on one set, the Gram matrices alone among them."""
    rows = {"gram alone": mean_precision(sims["gram"], labels)}
    for name, colour in canvas_colours(pictures_of(labels.paths)).items():
        rows |= canvas_rows(sims, labels, name, colour)
    return rows


if __name__ == "__main__":
    sys.exit(sweep_main(__doc__ or "", set_rows, todays_colour=False))
