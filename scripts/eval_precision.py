"""Are indexes built with the network in bf16 and in fp32 interchangeable? For every built-in
evaluation set: both indexes from the same files, mAP@10 of each search mode in each, and the
overlap of every query's top 10 between them (1.0: the same ten items).

    python scripts/eval_precision.py [--sets grid,grid-unseen,textures,textures-recoloured] [--json out.json]

The criterion (issue 13): mAP@10 within 0.01 on every set; then ``precision`` is recorded in the
manifest but an index may mix runs of both (stylesim/index/manifest.py, NOT_COMPARED).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_retrieval import build_set, log  # noqa: E402

from stylesim import api  # noqa: E402
from stylesim.evaluation.harness import evaluate, read_labels, stored_similarities  # noqa: E402
from stylesim.evaluation.metrics import ranking_from_scores  # noqa: E402

MODES = {
    "style": "style",
    "style-relative": "style",
    "content": "content",
    "gram": "style",
    "adain": "style",
    "colour": "style",
}


def top10_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean |top10(a) & top10(b)| / 10 over the queries (rows) of two score matrices."""
    ra, rb = ranking_from_scores(a)[:, :10], ranking_from_scores(b)[:, :10]
    return float(np.mean([len(set(x) & set(y)) / 10 for x, y in zip(ra, rb, strict=True)]))


def compare(folder: Path, unlabelled: set[str], size: int) -> dict[str, dict[str, float]]:
    labels = read_labels(folder, folder / "labels.csv", unlabelled)
    sims = {}
    with tempfile.TemporaryDirectory(prefix="stylesim-precision-") as tmp:
        for precision in ("fp32", "bf16"):
            index = Path(tmp) / precision
            api.build_index([folder], index, size=size, device="cpu", precision=precision)
            sims[precision] = stored_similarities(index, labels.paths)
    results = {p: evaluate(s, labels) for p, s in sims.items()}
    rows = {}
    for mode, label in MODES.items():
        if "mAP@10" not in results["fp32"][mode][label]:
            continue  # no queries with this label in the set (textures have no content labels)
        fp32, bf16 = results["fp32"][mode][label]["mAP@10"], results["bf16"][mode][label]["mAP@10"]
        rows[mode] = {
            "fp32": fp32,
            "bf16": bf16,
            "difference": bf16 - fp32,
            "top10_overlap": top10_overlap(sims["fp32"][mode], sims["bf16"][mode]),
        }
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sets", default="grid,grid-unseen,textures,textures-recoloured")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report = json.loads(args.json.read_text()) if args.json and args.json.exists() else {}
    with tempfile.TemporaryDirectory(prefix="stylesim-sets-") as tmp:
        for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
            built = build_set(name, Path(tmp) / name)
            if built is None:
                continue
            log(f"== {name}")
            report[name] = compare(built[0], built[1], args.size)
            print(f"== {name}: mode  mAP@10 fp32  bf16  difference  top-10 overlap")
            for mode, row in report[name].items():
                mean_ap = f"{row['fp32']:.3f}  {row['bf16']:.3f}  {row['difference']:+.3f}"
                figures = f"{mean_ap}  {row['top10_overlap']:.3f}"
                print(
                    f"  {mode:<15} {figures}",
                    flush=True,
                )
    worst = max(abs(row["difference"]) for rows in report.values() for row in rows.values())
    print(f"largest mAP@10 difference: {worst:.3f} ({'within' if worst <= 0.01 else 'NOT within'} 0.01)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
