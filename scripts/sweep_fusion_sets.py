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
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

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


def scores_per_set(
    set_scores: Callable[[str, Path], dict[str, float] | None], names: Sequence[str], work: Path
) -> dict[str, dict[str, float]]:
    """``set_scores`` of every named set that is available, each one's time logged on stderr."""
    results = {}
    for name in names:
        started = time.perf_counter()
        scores = set_scores(name, work)
        if scores is not None:
            results[name] = scores
            log(f"{name}: {time.perf_counter() - started:.0f} s")
    return results


def probe_main(
    description: str, set_scores: Callable[[str, Path], dict[str, float] | None], sets: str
) -> int:
    """A probe's command line (``--sets``, default ``sets``; ``--work``; ``--json``): every set's
    scores in a table on stdout, and in JSON when asked."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", default=sets)
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/stylesim-sets"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = scores_per_set(set_scores, args.sets.split(","), args.work)
    print_set_table(results)
    write_json(args.json, results)
    return 0


def print_set_table(results: Mapping[str, Mapping[str, float]]) -> None:
    """One row per set, one column per variant (its mAP@10), on stdout."""
    columns = list(next(iter(results.values())))
    print(f"set | {' | '.join(columns)}")
    for name, scores in results.items():
        print(f"{name} | {' | '.join(f'{scores[c]:.3f}' for c in columns)}")


def print_variant_table(
    results: Mapping[str, Mapping[str, Any]],
    chosen: Sequence[str],
    score: Callable[[Any], float],
    last: tuple[str, Callable[[str], float]] | None = None,
) -> None:
    """A Markdown table on stdout, one row per variant: ``score`` of its cell averaged over the
    ``chosen`` sets, the worst of them, then every set's; ``last`` (header, value of a variant)
    adds a final column."""
    names = list(results)
    header = [*names, last[0]] if last else names
    print(f"| variant | mean | worst | {' | '.join(header)} |")
    print(f"| {' | '.join(['---'] * (len(header) + 3))} |")
    for variant in next(iter(results.values())):
        values = [score(results[n][variant]) for n in chosen if n in results]
        cells = [f"{score(results[n][variant]):.3f}" for n in names]
        if last:
            cells.append(f"{last[1](variant):.3f}")
        print(f"| {variant} | {np.mean(values):.3f} | {min(values):.3f} | {' | '.join(cells)} |")


def write_json(path: Path | None, results: object) -> None:
    """``results`` as indented JSON at ``path`` (nothing when no path was asked for)."""
    if path is not None:
        path.write_text(json.dumps(results, indent=1) + "\n")


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
