"""Measure style and content retrieval on a labelled collection.

    python scripts/eval_retrieval.py                       # built-in photo x look grid
    python scripts/eval_retrieval.py FOLDER LABELS.csv     # your data: CSV path,style,content
    options: --size 256  --json out.json  --no-uncompressed  --sweep-fusion

The collection is indexed with ``stylesim`` into a temporary index (the real pipeline: decode,
encode, collection standardisation, quantised storage); every item is then a query against all
others. For each descriptor (gram, adain, content, colour, and the fused ``style``) and each
label it reports mAP@10 (AP truncated at 10), P@1, P@5, CSD's mAP@10 and leakage (P@5 measured
with the other label: a style query returning the same photo, a content query the same look).
Items with an empty label are in the database but not queries for that label (the grid's
unfiltered photos have no common style). ``gram (uncompressed)`` is the full 305k-dim centred
Gram vector computed in memory, to show what the count sketch + 8-bit storage cost.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylesim import api  # noqa: E402
from stylesim.collection.decode import decode_for_encoding  # noqa: E402
from stylesim.descriptors import STYLE_FUSION  # noqa: E402
from stylesim.descriptors.gram import gram_vector  # noqa: E402
from stylesim.evaluation.metrics import average_precision_at_k, evaluate_rankings, ranking_from_scores  # noqa: E402
from stylesim.index.codec import all_vectors  # noqa: E402
from stylesim.index.store import IndexStore  # noqa: E402

GRID_UNLABELLED_STYLES = {"photo"}  # unfiltered photos: each has its own look


def read_labels(folder: Path, labels_csv: Path) -> list[tuple[str, str, str]]:
    rows = []
    with open(labels_csv, newline="") as f:
        for row in csv.DictReader(f):
            path = Path(row["path"])
            rows.append((str((folder / path).resolve() if not path.is_absolute() else path), row.get("style") or "", row.get("content") or ""))
    return rows


def stored_similarities(index_dir: Path, paths: list[str]) -> dict[str, np.ndarray]:
    """(n, n) cosine matrices per descriptor from the vectors the index stores, rows in
    ``paths`` order, plus the fused ``style`` with the search weights."""
    store = IndexStore.open(index_dir)
    by_path = {p: i for i, p in zip(store.items.index, store.items["path"])}
    missing = [p for p in paths if p not in by_path]
    if missing:
        raise SystemExit(f"not indexed (see skipped files above): {missing[:3]}")
    wanted = np.array([by_path[p] for p in paths])
    sims = {}
    for name, index in store.vectors.items():
        ids, vecs = all_vectors(index)
        pos = {int(i): j for j, i in enumerate(ids)}
        v = vecs[[pos[int(i)] for i in wanted]].astype(np.float64)
        sims[name] = v @ v.T
    sims["style"] = sum(w * sims[n] for n, w in STYLE_FUSION.items())
    return sims


def uncompressed_gram_similarity(paths: list[str], index_dir: Path, size: int) -> np.ndarray:
    """Cosine of the full (unsketched, float32) Gram vectors, centred over the collection."""
    store = IndexStore.open(index_dir)
    extractor = api.make_extractor(store.manifest, "cpu")
    layers = store.descriptors["gram"].layers
    vecs = []
    for p in paths:
        features = extractor.encoder.encode(decode_for_encoding(p, size).pixels)
        vecs.append(gram_vector(features, layers).numpy()[0].astype(np.float64))
    v = np.stack(vecs)
    v -= v.mean(axis=0)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v @ v.T


def evaluate(sims: dict[str, np.ndarray], styles: np.ndarray, contents: np.ndarray) -> dict[str, dict[str, dict[str, float]]]:
    out = {}
    for name, s in sims.items():
        ranking = ranking_from_scores(s)
        out[name] = {"style": evaluate_rankings(ranking, styles, contents), "content": evaluate_rankings(ranking, contents, styles)}
    return out


def per_style(sims: np.ndarray, styles: np.ndarray) -> dict[str, float]:
    """mAP@10 of the queries of each style label."""
    ranking = ranking_from_scores(sims)
    out = {}
    for look in sorted(set(styles) - {""}):
        queries = np.where(styles == look)[0]
        out[look] = float(np.mean([average_precision_at_k(styles[ranking[q]] == look, 10, len(queries) - 1) for q in queries]))
    return out


def sweep_fusion(sims: dict[str, np.ndarray], styles: np.ndarray, contents: np.ndarray) -> list[tuple[tuple[float, float, float], dict]]:
    """Style metrics of every weighting w_gram + w_adain + w_colour = 1 on a 0.1 grid."""
    out = []
    for g in range(11):
        for a in range(11 - g):
            w = (g / 10, a / 10, (10 - g - a) / 10)
            fused = w[0] * sims["gram"] + w[1] * sims["adain"] + w[2] * sims["colour"]
            out.append((w, evaluate_rankings(ranking_from_scores(fused), styles, contents)))
    return sorted(out, key=lambda x: -x[1]["mAP@10"])


def print_table(results: dict, file=sys.stdout) -> None:
    print(f"{'descriptor':<22} {'style mAP@10':>12} {'P@1':>5} {'CSD-mAP@10':>10} {'leak@5':>7} | {'content mAP@10':>14} {'P@1':>5} {'leak@5':>7}", file=file)
    for name, r in results.items():
        s, c = r["style"], r["content"]
        print(
            f"{name:<22} {s.get('mAP@10', float('nan')):>12.3f} {s.get('P@1', float('nan')):>5.2f} {s.get('CSD-mAP@10', float('nan')):>10.3f} {s.get('leakage@5', float('nan')):>7.3f} | "
            f"{c.get('mAP@10', float('nan')):>14.3f} {c.get('P@1', float('nan')):>5.2f} {c.get('leakage@5', float('nan')):>7.3f}",
            file=file,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, help="collection folder (default: build the photo x look grid)")
    parser.add_argument("labels", nargs="?", type=Path, help="CSV with columns path,style,content (paths relative to FOLDER)")
    parser.add_argument("--size", type=int, default=api.DEFAULT_SIZE)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--no-uncompressed", action="store_true", help="skip the uncompressed-gram comparison")
    parser.add_argument("--sweep-fusion", action="store_true", help="also rank every gram/adain/colour weighting (step 0.1) by style mAP@10")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stylesim-eval-") as tmp:
        tmp = Path(tmp)
        if args.folder is None:
            from sample_grid import build_grid

            folder = tmp / "grid"
            build_grid(folder)
            labels = folder / "labels.csv"
            unlabelled = GRID_UNLABELLED_STYLES
        else:
            folder, labels, unlabelled = args.folder, args.labels or args.folder / "labels.csv", set()
        rows = read_labels(folder, labels)
        paths = [r[0] for r in rows]
        styles = np.array(["" if r[1] in unlabelled else r[1] for r in rows], dtype=object)
        contents = np.array([r[2] for r in rows], dtype=object)
        t0 = time.perf_counter()
        report = api.build_index([folder], tmp / "index", size=args.size, device="cpu")
        print(f"indexed {report.added} images in {time.perf_counter() - t0:.1f} s at size {args.size}", file=sys.stderr)
        sims = stored_similarities(tmp / "index", paths)
        if not args.no_uncompressed:
            sims["gram (uncompressed)"] = uncompressed_gram_similarity(paths, tmp / "index", args.size)
    results = evaluate(sims, styles, contents)
    print(f"{len(paths)} images, {len(set(styles) - {''})} labelled styles, {len(set(contents) - {''})} contents, size {args.size}")
    print_table(results)
    print("\nstyle mAP@10 per look (--by style):", ", ".join(f"{k} {v:.2f}" for k, v in per_style(sims["style"], styles).items()))
    if args.sweep_fusion:
        print("\nfusion sweep (style mAP@10, leak@5), best first; default", STYLE_FUSION)
        for weights, m in sweep_fusion(sims, styles, contents)[:8]:
            print(f"  gram {weights[0]:.1f} adain {weights[1]:.1f} colour {weights[2]:.1f}: {m['mAP@10']:.3f}  {m['leakage@5']:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"size": args.size, "n": len(paths), "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
