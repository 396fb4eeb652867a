"""The content discount of ``--by style``: the plain content cosine against only the content
similarity above what is typical for the query (issue 17; the latter, "query median z 4,
lambda 1.5", is the default since 2026-12-06).

Before, every candidate was discounted by its content cosine c with the query,
s' = s - lambda c (1 - s). Where a collection's items all share content cues (icons on one
canvas, one word in many fonts: the content cosine between unrelated icons averages 0.32, between
unrelated photos 0.10) every candidate was discounted, the same-style ones too. The variants
discount c' = clip((c - t) / (1 - t), 0, 1) instead (``index.search.content_beyond_typical``),
t being

- "collection mean z": mean + z sd of the content cosines between distinct items of the set;
- "query mean z": mean + z sd of the query's own content cosines to the other items;
- "query median z": median + z 1.4826 MAD of the same (``index.search.typical_content``, the
  default with z = 4, lambda = 1.5): the query's own versions, a fifth of a small collection of
  restyled pictures, inflate the mean and sd but not the median and MAD;
- "query median z, sample S": over a fixed random sample of S items, as a large collection is
  sampled (TYPICAL_CONTENT_SAMPLE), the query itself left out where it is drawn.

Scored on the stored Gram and content cosines of each set's index (built once under --work as
scripts/sweep_style_levers.py does), today's colour descriptor recomputed from the pixels
(``probe_colour_richness.canvas_balanced_colour``), 0.7 gram + 0.3 colour, then the discount and
the near-duplicate rule. Mean and worst over --sets; --unseen sets reported only; the grid's
style leakage@5 (items of the query's photo among the top 5) beside.

    python scripts/sweep_content_discount.py [--json out.json]
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval_retrieval import log  # noqa: E402
from probe_colour_richness import canvas_balanced_colour, pictures_of, set_arguments  # noqa: E402
from sweep_fusion_sets import print_variant_table, set_similarities, write_json  # noqa: E402

from stylesim.evaluation.harness import Labelled  # noqa: E402
from stylesim.evaluation.metrics import evaluate_rankings, ranking_from_scores  # noqa: E402
from stylesim.index.search import (  # noqa: E402
    content_beyond_typical,
    content_discounted,
    near_duplicates_first,
    typical_content,
)

MEAN_Z = (1.5, 2.0, 2.5, 3.0)
MEDIAN_Z = (2.0, 3.0, 4.0, 5.0, 6.0)
LAMBDA = (1.0, 1.5, 2.0, 2.5)
SAMPLE = 64


def thresholds(content: np.ndarray) -> Iterator[tuple[str, np.ndarray | float]]:
    """(variant, t per query row or one t) for every variant of the module docstring."""
    others = ~np.eye(len(content), dtype=bool)
    off = content[others].reshape(len(content), -1)
    sample = np.random.default_rng(0).choice(len(content), min(SAMPLE, len(content)), replace=False)
    for z in MEAN_Z:
        yield f"collection mean z {z:g}", float(off.mean() + z * off.std())
        yield f"query mean z {z:g}", (off.mean(axis=1) + z * off.std(axis=1))[:, None]
    for z in MEDIAN_Z:
        yield f"query median z {z:g}", typical_content(content, z)[:, None]
        yield f"query median z {z:g}, sample {SAMPLE}", typical_content(content[:, sample], z)[:, None]


def scores(sims: dict[str, np.ndarray], labels: Labelled) -> dict[str, dict[str, float]]:
    """mAP@10 and leakage@5 of today's discount and of every variant at every lambda."""
    fused = 0.7 * sims["gram"] + 0.3 * sims["colour"]

    def measured(discounted: np.ndarray) -> dict[str, float]:
        found = evaluate_rankings(
            ranking_from_scores(near_duplicates_first(discounted, sims)), labels.styles, labels.contents
        )
        return {"mAP@10": found["mAP@10"], "leakage@5": found.get("leakage@5", float("nan"))}

    out = {"gram alone": measured(sims["gram"])}
    out["plain c, lambda 1 (before 2026-12-06)"] = measured(content_discounted(fused, sims["content"], 1.0))
    for variant, t in thresholds(sims["content"]):
        beyond = content_beyond_typical(sims["content"], t)
        for lam in LAMBDA:
            out[f"{variant}, lambda {lam:g}"] = measured(content_discounted(fused, beyond, lam))
    return out


def main() -> int:
    args, chosen, unseen = set_arguments(__doc__ or "")
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in chosen + unseen:
        log(f"== {name}")
        found = set_similarities(name, args.work, 256)
        if found is not None:
            sims, labels = found
            colour = canvas_balanced_colour(pictures_of(labels.paths))
            results[name] = scores({**sims, "colour": colour}, labels)
    grid = results.get("grid")
    leakage = ("grid leakage@5", lambda v: grid[v]["leakage@5"] if grid else float("nan"))
    print_variant_table(results, chosen, lambda cell: cell["mAP@10"], leakage)
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
