"""The ``--by style`` fusion weights judged on every built-in set at once (issue 17): each
weighting w_gram + w_adain + w_colour = 1 on a 0.1 grid, with and without the content discount,
scored by its mean style mAP@10 over the sets and by its worst set.

    python scripts/sweep_fusion_sets.py [--sets grid,grid-unseen,...] [--json out.json]

Each set is built and indexed once (as scripts/eval_retrieval.py does); the sweep re-fuses the
stored cosines (``evaluation.harness.sweep_fusion``), so it costs one encoding per set. Progress
on stderr, the table on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval_retrieval import build_set, log  # noqa: E402

from stylesim import api  # noqa: E402
from stylesim.evaluation.harness import Labelled, read_labels, stored_similarities, sweep_fusion  # noqa: E402
from stylesim.index.policy import STYLE_CONTENT_DISCOUNT, STYLE_FUSION  # noqa: E402

SETS = "grid,grid-unseen,textures,textures-recoloured,icons,fonts"


def set_similarities(name: str, work: Path, size: int) -> tuple[dict[str, np.ndarray], Labelled] | None:
    """Stored cosine matrices and labels of one set (None if unavailable), its index built once
    under ``work``."""
    built = build_set(name, work / name)
    if built is None:
        return None
    folder, unlabelled = built
    labels = read_labels(folder, folder / "labels.csv", unlabelled)
    index = work / f"{name}-index"
    if not (index / "CURRENT").exists():
        api.build_index([folder], index, size=size, device="cpu")
    return stored_similarities(index, labels.paths), labels


def set_sweep(name: str, tmp: Path, size: int) -> dict[str, float] | None:
    """mAP@10 of every weighting (key ``g,a,c,discount``) on one set, or None if unavailable."""
    found = set_similarities(name, tmp, size)
    if found is None:
        return None
    sims, labels = found
    swept = sweep_fusion(sims, labels, discounts=(0.0, STYLE_CONTENT_DISCOUNT))
    return {",".join(f"{x:g}" for x in w): m["mAP@10"] for w, m in swept}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", default=SETS)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    per_set: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="stylesim-sweep-") as tmp:
        for name in args.sets.split(","):
            log(f"== {name}")
            result = set_sweep(name, Path(tmp), args.size)
            if result is not None:
                per_set[name] = result
    keys = list(next(iter(per_set.values())))
    table = {k: [per_set[s][k] for s in per_set] for k in keys}
    default = ",".join(f"{x:g}" for x in (*STYLE_FUSION.values(), STYLE_CONTENT_DISCOUNT))
    print(f"weights g,a,c,discount | mean | worst | {' | '.join(per_set)}")
    for title, order in (
        ("by mean", lambda k: -np.mean(table[k])),
        ("by worst set", lambda k: -min(table[k])),
    ):
        print(f"-- {title}")
        for k in [*sorted(keys, key=order)[:8], default]:
            scores = " | ".join(f"{v:.3f}" for v in table[k])
            print(f"{k} | {np.mean(table[k]):.3f} | {min(table[k]):.3f} | {scores}")
    if args.json:
        args.json.write_text(
            json.dumps({"sets": list(per_set), "mAP@10": table, "default": default}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
