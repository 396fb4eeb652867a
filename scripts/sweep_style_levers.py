"""Levers for ``--by style`` beyond the fusion weights, judged on every built-in set at once
(issue 17), by mean style mAP@10 and worst set, from the stored cosines of one index per set:

- per-query z-scores: each component's cosines standardised over the collection for each
  query before the weighted sum (CombSUM with z-normalisation); the content discount then
  subtracts lambda max(0, z_content);
- per-query weights: w_i(q) proportional to w_i z_i(q)^p, z_i(q) = (mean of the query's 10 best
  cosines - mean cosine) / standard deviation, how far the component's neighbours stand out;
- the coarse Gram (relu3_1 + relu4_1 at 96 px) as a fourth component: Gram at two scales;
- collection centring and whitening of a component: its cosine matrix double-centred (the
  vectors minus the collection mean) and, for whitening, its eigenvalues raised to alpha
  (1 = centring, 0 = full whitening) before renormalising; computed on the set itself, which
  favours it (an index would fit it on its collection, as this does).

Every variant keeps the content discount and the near-duplicate rule, as ``--by style`` does
(``harness.discounted_by_content``: the rule of the day the script is run; the 2026-11-24 table
in docs/retrieval.md was made with the plain content cosine at lambda = 1).

    python scripts/sweep_style_levers.py [--sets grid,...] [--work DIR] [--json out.json]

Sets and indexes are built once under --work (default /var/tmp/stylesim-sets) and reused.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval_retrieval import log  # noqa: E402
from sweep_fusion_sets import SETS, set_similarities  # noqa: E402

from stylesim.evaluation.harness import Labelled, discounted_by_content  # noqa: E402
from stylesim.evaluation.metrics import evaluate_rankings, ranking_from_scores  # noqa: E402
from stylesim.index.policy import STYLE_CONTENT_DISCOUNT, STYLE_FUSION  # noqa: E402
from stylesim.index.search import near_duplicates_first  # noqa: E402

Sims = dict[str, np.ndarray]
COMPONENTS = tuple(STYLE_FUSION)  # gram, adain, colour
DEFAULT = tuple(STYLE_FUSION.values())


def style_map(sims: np.ndarray, labels: Labelled) -> float:
    return float(evaluate_rankings(ranking_from_scores(sims), labels.styles, labels.contents)["mAP@10"])


def finished(fused: np.ndarray, sims: Sims) -> np.ndarray:
    """``fused`` content-discounted, near-duplicates first: what ``--by style`` does after fusing."""
    return near_duplicates_first(discounted_by_content(fused, sims["content"]), sims)


def weighted(sims: Sims, weights: tuple[float, ...], names: tuple[str, ...] = COMPONENTS) -> np.ndarray:
    fused = np.sum([w * sims[n] for w, n in zip(weights, names, strict=True)], axis=0)
    return finished(fused, sims)


def z_rows(s: np.ndarray) -> np.ndarray:
    return np.asarray((s - s.mean(axis=1, keepdims=True)) / (s.std(axis=1, keepdims=True) + 1e-9))


def z_fused(sims: Sims, weights: tuple[float, ...]) -> np.ndarray:
    fused = np.sum([w * z_rows(sims[n]) for w, n in zip(weights, COMPONENTS, strict=True)], axis=0)
    return near_duplicates_first(
        fused - STYLE_CONTENT_DISCOUNT * np.maximum(z_rows(sims["content"]), 0), sims
    )


def standing_out(s: np.ndarray, top: int = 10) -> np.ndarray:
    """(mean of each row's ``top`` best off-diagonal cosines - row mean) / row deviation."""
    off = s.copy()
    np.fill_diagonal(off, np.nan)
    best = -np.sort(-np.nan_to_num(off, nan=-np.inf), axis=1)[:, :top]
    mean, spread = np.nanmean(off, axis=1), np.nanstd(off, axis=1) + 1e-9
    return np.asarray((best.mean(axis=1) - mean) / spread)[:, None]


def per_query_weighted(sims: Sims, weights: tuple[float, ...], power: float) -> np.ndarray:
    raw = [
        w * np.maximum(standing_out(sims[n]), 1e-3) ** power for w, n in zip(weights, COMPONENTS, strict=True)
    ]
    total = np.sum(raw, axis=0)
    return finished(np.sum([r / total * sims[n] for r, n in zip(raw, COMPONENTS, strict=True)], axis=0), sims)


def whitened(s: np.ndarray, alpha: float) -> np.ndarray:
    """Cosines after centring the vectors on the collection mean and scaling the centred
    covariance's eigenvalues lambda to lambda^alpha (alpha = 1: centring only)."""
    centred = s - s.mean(axis=0, keepdims=True) - s.mean(axis=1, keepdims=True) + s.mean()
    eigenvalues, vectors = np.linalg.eigh((centred + centred.T) / 2)
    kept = np.maximum(eigenvalues, 0)
    kept = kept**alpha * (kept > 1e-3 * kept.max())
    out = (vectors * kept) @ vectors.T
    norm = np.sqrt(np.maximum(np.diag(out), 1e-12))
    return np.asarray(out / norm[:, None] / norm[None, :])


def with_whitened(sims: Sims, alpha: float, names: tuple[str, ...]) -> Sims:
    return {**sims, **{n: whitened(sims[n], alpha) for n in names}}


LEVERS: dict[str, Callable[[Sims], np.ndarray]] = {
    f"default ({' / '.join(f'{w:g}' for w in DEFAULT)})": lambda s: weighted(s, DEFAULT),
    "gram alone": lambda s: s["gram"],
    "per-query z-scores": lambda s: z_fused(s, DEFAULT),
    "per-query z-scores, 0.6 / 0.2 / 0.2": lambda s: z_fused(s, (0.6, 0.2, 0.2)),
    "per-query weights, p = 1": lambda s: per_query_weighted(s, DEFAULT, 1),
    "per-query weights, p = 2": lambda s: per_query_weighted(s, DEFAULT, 2),
    "coarse Gram as a 4th component, 0.4 / 0.2 / 0.3 / 0.1": lambda s: weighted(
        s, (0.4, 0.2, 0.3, 0.1), (*COMPONENTS, "coarse")
    ),
    "coarse Gram, 0.35 / 0.15 / 0.25 / 0.25": lambda s: weighted(
        s, (0.35, 0.15, 0.25, 0.25), (*COMPONENTS, "coarse")
    ),
    "gram alone, whitened (alpha 0.5)": lambda s: whitened(s["gram"], 0.5),
    "all centred": lambda s: weighted(with_whitened(s, 1.0, COMPONENTS), DEFAULT),
    "all whitened (alpha 0.5)": lambda s: weighted(with_whitened(s, 0.5, COMPONENTS), DEFAULT),
    "gram and adain whitened (alpha 0.5)": lambda s: weighted(
        with_whitened(s, 0.5, ("gram", "adain")), DEFAULT
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", default=SETS)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/stylesim-sets"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    per_set = {}
    for name in args.sets.split(","):
        log(f"== {name}")
        found = set_similarities(name, args.work, args.size)
        if found is not None:
            per_set[name] = found
    table = {
        lever: [style_map(fuse(s), labels) for s, labels in per_set.values()]
        for lever, fuse in LEVERS.items()
    }
    print(f"lever | mean | worst | {' | '.join(per_set)}")
    for lever, scores in table.items():
        print(
            f"{lever} | {np.mean(scores):.3f} | {min(scores):.3f} | {' | '.join(f'{v:.3f}' for v in scores)}"
        )
    if args.json:
        args.json.write_text(json.dumps({"sets": list(per_set), "mAP@10": table}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
