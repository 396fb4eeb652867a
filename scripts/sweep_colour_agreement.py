"""The colour weight of ``--by style`` from how far the Gram matrices and colour agree about the
collection (issue 17; ``index.agreement``, the default since 2026-12-06).

Per set: the agreement a (the mean share of an item's 5 nearest by the Gram matrices that colour
also ranks there, the item itself left out, corrected for chance as ``index.agreement.beyond_chance``
does), and style mAP@10 at fixed colour weights 0-0.6; then
the colour weight chosen from the agreement, w = clip(0.3 + slope (a - centre), low, high), for a
grid of (centre, slope, low, high) ("centre 0.3, slope 1" is w = clip(a, low, high)); and the same
with a per query (each query's own share, or a mix of the two), which the 2026-12-06 probe of a
per-query agreement suggested is too noisy. Scored as the other sweeps score: the stored whitened
Gram and content cosines of each set's index, today's colour recomputed from the pixels, the
content discount and the near-duplicate rule. Mean and worst over --sets, --unseen reported only.
Last, how a within-sample agreement would move with the sample's share of the collection (why
the search measures it over the whole collection, not within its sample).

    python scripts/sweep_colour_agreement.py [--json out.json]
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval_retrieval import log  # noqa: E402
from probe_colour_richness import canvas_balanced_colour, pictures_of, set_arguments  # noqa: E402
from sweep_fusion_sets import print_variant_table, set_similarities, write_json  # noqa: E402

from stylesim.evaluation.harness import Labelled, discounted_by_content  # noqa: E402
from stylesim.evaluation.metrics import evaluate_rankings, ranking_from_scores  # noqa: E402
from stylesim.index.agreement import beyond_chance, neighbour_agreement  # noqa: E402
from stylesim.index.palette import palette_match  # noqa: E402
from stylesim.index.policy import PALETTE_MATCH_COSINE, PALETTE_MATCH_SHARE, STYLE_COLOUR_WEIGHT_RANGE  # noqa: E402
from stylesim.index.search import near_duplicates_first  # noqa: E402

FIXED = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
CENTRES, SLOPES, LOWS, HIGHS = (0.25, 0.3), (0.5, 1.0, 1.5), (0.0, 0.1, 0.2), (0.5, 0.6, 0.7)
QUERY_MIX = (0.25, 0.5, 1.0)  # share of the query's own agreement in a per-query weight
K = 5
PALETTE = (PALETTE_MATCH_COSINE, PALETTE_MATCH_SHARE)  # today's palette match


def nearest(cosines: np.ndarray, k: int = K) -> np.ndarray:
    others = cosines.copy()
    np.fill_diagonal(others, -np.inf)
    return np.argsort(-others, axis=1, kind="stable")[:, :k]


def per_query_agreement(sims: dict[str, np.ndarray]) -> np.ndarray:
    """Each item's share of shared neighbours, corrected for chance (``index.agreement``)."""
    gram, colour = nearest(sims["gram"]), nearest(sims["colour"])
    shares = [neighbour_agreement(g[None], c[None]) for g, c in zip(gram, colour, strict=True)]
    return np.array([beyond_chance(s, K, len(gram)) for s in shares])


def collection_colour_weight(sims: dict[str, np.ndarray]) -> float:
    """The colour weight ``--by style`` gives this collection: its agreement, clipped to
    ``policy.STYLE_COLOUR_WEIGHT_RANGE``."""
    return float(np.clip(per_query_agreement(sims).mean(), *STYLE_COLOUR_WEIGHT_RANGE))


def style_scores(
    sims: dict[str, np.ndarray], colour: np.ndarray | float, palette: tuple[float, float] | None = PALETTE
) -> np.ndarray:
    """--by style's scores (queries x items) with colour weight ``colour`` (one, or one per query
    row): the fusion, the palette match (``index.palette``; ``palette`` its (tau, gamma), None
    for none), the content discount and the near-duplicate rule."""
    w = np.asarray(colour, np.float64).reshape(-1, 1) if np.ndim(colour) else float(colour)
    fusion = (1 - w) * sims["gram"] + w * sims["colour"]
    if palette is not None:
        tau, gamma = palette
        fusion = fusion + palette_match(sims["colour"], sims["gram"], w, share=gamma, threshold=tau)
    return near_duplicates_first(discounted_by_content(fusion, sims["content"]), sims)


def mean_precision(scores: np.ndarray, labels: Labelled) -> float:
    """mAP@10 of the rankings of a score matrix (queries x the same items)."""
    found = evaluate_rankings(ranking_from_scores(scores), labels.styles, labels.contents)
    return float(found["mAP@10"])


def style_map(sims: dict[str, np.ndarray], labels: Labelled, colour: np.ndarray | float) -> float:
    """mAP@10 of --by style with colour weight ``colour`` (one, or one per query row)."""
    return mean_precision(style_scores(sims, colour), labels)


def set_rows(sims: dict[str, np.ndarray], labels: Labelled) -> dict[str, float]:
    """Every variant's mAP@10 on one set, and its agreement."""
    queries = per_query_agreement(sims)
    a = float(queries.mean())
    rows = {"agreement": a, **{f"fixed {w:g}": style_map(sims, labels, w) for w in FIXED}}
    for centre, slope, low, high in itertools.product(CENTRES, SLOPES, LOWS, HIGHS):
        name = f"collection: centre {centre:g}, slope {slope:g}, range {low:g}-{high:g}"
        rows[name] = style_map(sims, labels, np.clip(0.3 + slope * (a - centre), low, high))
    for mix in QUERY_MIX:
        own = mix * queries + (1 - mix) * a
        rows[f"query share {mix:g}: centre 0.3, slope 1, range 0.1-0.5"] = style_map(
            sims, labels, np.clip(own, 0.1, 0.5)
        )
    return rows


def within_sample(sims: dict[str, np.ndarray], share: float, repeats: int = 5) -> float:
    """The agreement measured within random samples of ``share`` of the set (mean of repeats)."""
    rng, n = np.random.default_rng(0), len(sims["gram"])
    values = []
    for _ in range(repeats):
        pick = np.sort(rng.choice(n, max(K + 2, int(n * share)), replace=False))
        sub = {d: sims[d][np.ix_(pick, pick)] for d in ("gram", "colour")}
        values.append(float(per_query_agreement(sub).mean()))
    return float(np.mean(values))


def rows_and_samples(sims: dict[str, np.ndarray], labels: Labelled) -> dict[str, float]:
    """``set_rows`` and the agreement within random halves and quarters of the set."""
    return set_rows(sims, labels) | {f"agreement within {s:g}": within_sample(sims, s) for s in (0.5, 0.25)}


SetRows = Callable[[dict[str, np.ndarray], Labelled], dict[str, float]]


def sweep_main(description: str, rows_of_set: SetRows, todays_colour: bool = True) -> int:
    """A sweep's command line (``probe_colour_richness.set_arguments``): ``rows_of_set`` of each
    set's stored cosines (the colour replaced by today's, recomputed from the pixels, unless
    ``todays_colour`` is False) and labels, in a variant table on stdout and in JSON."""
    args, chosen, unseen = set_arguments(description)
    results: dict[str, dict[str, float]] = {}
    for name in chosen + unseen:
        log(f"== {name}")
        found = set_similarities(name, args.work, 256)
        if found is not None:
            sims, labels = found
            if todays_colour:
                sims = {**sims, "colour": canvas_balanced_colour(pictures_of(labels.paths))}
            results[name] = rows_of_set(sims, labels)
    print_variant_table(results, chosen, float)
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(sweep_main(__doc__ or "", rows_and_samples))
