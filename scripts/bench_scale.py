"""A million items on one machine: build, search latency and recall, adding, cold start.

    python scripts/bench_scale.py --items 1000000 --work /var/tmp/stylesim-scale [--json out.json]
    python scripts/bench_scale.py --items 100000 --work /tmp/scale-100k     # < 10 minutes

The collection: the real sample grid (24 photos x 7 looks, ``stylesim/evaluation/sets/grid.py``) encoded
by the real model, plus synthetic items drawn per descriptor from a Gaussian fitted to those
real items' raw vectors (their mean and covariance, rank 167, plus an isotropic part):

    picture = mu + sum_k g_k (r_k - mu) / sqrt(n - 1) + RESIDUAL * s * e,   g, e ~ N(0, I)

with r_k the real vectors and s their per-dimension standard deviation; a share VERSIONS (10 %)
of the items are instead versions of another synthetic picture (it + VERSION_NOISE * s * e), as
edits, bursts and restyled copies are in real collections. The synthetic items go through the
writer as encoded batches would (journal shards, then a merge into a segment and a commit): the
build time excludes only the encoder.

Measured, in this order: build (journal, merge + approximate indexes + relative vectors +
commit), disk bytes per item; with the index's files in the page cache (each read once before,
as on a machine that has been answering queries: a search reads scattered rows, and from a cold
disk each costs one random read) and in a fresh process: search p50/p95 for ``--by style``, ``content``
and ``style-relative`` (query vectors given: the real items' and synthetic ones', encoding
excluded), recall@10 of each against an exact search of every item by the same score, peak
RSS; the time to add ADD items (journal to commit); the time to open the index and answer one
query from a cold process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylesim.index.ann import recall_with_ties  # noqa: E402
from stylesim.index.search import Hit, content_discount, fused_hits, fusion_weights, ranked  # noqa: E402
from stylesim.index.segment import exact_top  # noqa: E402
from stylesim.index.store import IndexStore  # noqa: E402

RESIDUAL = 0.2  # isotropic part of a synthetic picture, in real standard deviations
VERSIONS = 0.1  # share of synthetic items that are versions of another one
VERSION_NOISE = 0.3  # how far a version lies from its picture, in real standard deviations
CHUNK = 20_000
MODES = ("style", "content", "style-relative")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def real_collection(work: Path) -> Path:
    """The sample grid, indexed by the real model (cached in ``work``)."""
    from stylesim import api
    from stylesim.evaluation.sets.grid import build_grid

    root = work / "real-index"
    if not (root / "CURRENT").exists():
        build_grid(work / "grid")
        log("encoding the sample grid with the real model")
        api.build_index([work / "grid"], root)
    return root


def real_raw_vectors(root: Path) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """The real items' raw descriptor vectors (the stored ones, un-standardised) and metadata."""
    store = IndexStore.open(root)
    ids = store.ids()
    rows = store.rows(ids)
    raw = {}
    for name in store.descriptors:
        unit = store.vectors_of(name, ids)
        raw[name] = (
            store.stats[name].invert(unit, rows[f"norm_{name}"].to_numpy(np.float32))
            if name in store.stats
            else unit
        )
    meta = rows.drop(columns=[c for c in rows.columns if str(c).startswith("norm_") or c == "id"])
    return raw, [{str(k): v for k, v in r.items() if pd.notna(v)} for r in meta.to_dict("records")]


def synthetic_batch(
    real: dict[str, np.ndarray], start: int, n: int, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """``n`` synthetic items (module docstring) numbered from ``start``."""
    count = len(next(iter(real.values())))
    weights = rng.standard_normal((n, count), dtype=np.float32) / np.float32(np.sqrt(count - 1))
    versions = rng.random(n) < VERSIONS
    originals = rng.integers(0, max(1, n), n)
    raw = {}
    for name, vectors in real.items():
        centred = vectors - vectors.mean(axis=0)
        spread = vectors.std(axis=0, keepdims=True)
        picture = vectors.mean(axis=0) + weights @ centred
        picture += rng.standard_normal(picture.shape, dtype=np.float32) * (RESIDUAL * spread)
        noise = rng.standard_normal(picture.shape, dtype=np.float32) * (VERSION_NOISE * spread)
        raw[name] = np.where(versions[:, None], picture[originals] + noise, picture)
    rows = [
        {
            "path": f"/synthetic/{i // 1000:04d}/{i:08d}.jpg",
            "kind": "image",
            "size": 100_000,
            "mtime_ns": 0,
            "sha256": f"{i:064x}",
            "width": 640,
            "height": 480,
        }
        for i in range(start, start + n)
    ]
    return raw, rows


def add_items(root: Path, real: dict[str, np.ndarray], start: int, n: int, seed: int) -> dict[str, float]:
    """Journal ``n`` synthetic items in CHUNK batches, merge and commit; timings in seconds."""
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    with IndexStore.open_for_writing(root, IndexStore.open(root).manifest) as store:
        for offset in range(0, n, CHUNK):
            raw, rows = synthetic_batch(real, start + offset, min(CHUNK, n - offset), rng)
            store.write_pending(store.allocate_ids(len(rows)), raw, rows)
        t1 = time.perf_counter()
        store.merge_pending()
        store.refit_if_needed()
        store.compact()
        store.commit()
    t2 = time.perf_counter()
    return {"journal_s": t1 - t0, "merge_commit_s": t2 - t1, "total_s": t2 - t0}


def linked_copy(root: Path, copy: Path) -> Path:
    """A copy of the index to add to, its files hard links (a commit never changes a file in
    place), so that the cached index stays as built and every run measures the same thing."""
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(root, copy, copy_function=os.link, ignore=shutil.ignore_patterns("lock", "pending"))
    return copy


def build(work: Path, items: int) -> tuple[Path, dict[str, float]]:
    """The real grid plus synthetic items up to ``items``, as one index."""
    real_root = real_collection(work)
    real, real_rows = real_raw_vectors(real_root)
    root = work / f"index-{items}"
    if (root / "CURRENT").exists():
        return root, json.loads((work / f"build-{items}.json").read_text())
    with IndexStore.open_for_writing(root, IndexStore.open(real_root).manifest) as store:
        store.write_pending(store.allocate_ids(len(real_rows)), real, real_rows)  # the real items
    log(f"building {items} items")
    timings = add_items(root, real, 0, items - len(real_rows), seed=0)
    (work / f"build-{items}.json").write_text(json.dumps(timings))
    return root, timings


def queries(store: IndexStore, count: int) -> dict[str, np.ndarray]:
    """Query vectors: half real items, half synthetic ones (their stored vectors)."""
    ids = store.ids()
    real = ids[: min(count // 2, 168)]
    synthetic = np.random.default_rng(1).choice(ids[168:], count - len(real), replace=False)
    chosen = np.concatenate([real, synthetic])
    return {n: store.vectors_of(n, chosen) for n in store.descriptors}


class EveryItem:
    """The store, with every live item a candidate of every search: ``fused_hits`` over it is
    the ``--by style`` rule (weights, the palette match, the content discount above the query's
    typical content, near-duplicates first, the query expansion) scored exactly on the whole
    collection."""

    def __init__(self, store: IndexStore) -> None:
        self.store, self.every = store, store.ids()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def __len__(self) -> int:
        return len(self.store)

    def candidates(self, space: str, queries: np.ndarray, depth: int) -> list[np.ndarray]:
        return [self.every] * len(queries)


def exact_fused(store: IndexStore, q: dict[str, np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` (scores, ids) of every item by the ``--by style`` score itself, reading every vector."""
    weights, discount = fusion_weights("style", store), content_discount("style", store)
    rows = [
        fused_hits(
            EveryItem(store), {n: v[i : i + 1] for n, v in q.items()}, weights, discount, k, palette=True
        )[0]
        for i in range(len(q["content"]))
    ]
    scores = np.array([[h.score for h in row] for row in rows], np.float32)
    return scores, np.array([[h.id for h in row] for row in rows], np.int64)


def exact_space(store: IndexStore, space: str, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` (scores, ids) of every live item by inner product in a search space."""
    from stylesim.index.spaces import style_weights

    weights = style_weights(store.descriptors, store.fusion)
    chunks = (
        (ids[keep], vectors[keep])
        for segment in store.segments
        for ids, vectors in segment.space_chunks(space, weights)
        if (keep := store.contains(ids) & ~superseded_relative(store, segment, ids, space)).any()
    )
    return exact_top(chunks, q, k)


def superseded_relative(store: IndexStore, segment: Any, ids: np.ndarray, space: str) -> np.ndarray:
    from stylesim.index.searching import superseded

    if space != "style-relative":
        return np.zeros(len(ids), bool)
    return superseded(store, store.segments.index(segment), ids)


def recall_at_10(found: list[list[Hit]], truth: tuple[np.ndarray, np.ndarray]) -> float:
    """Mean recall@10 against the exact (scores, ids), a tie with the 10th exact score counting
    (``ann.recall_with_ties``)."""
    return float(
        np.mean(
            [
                recall_with_ties(
                    np.array([h.id for h in hits[:10]]),
                    np.array([h.score for h in hits[:10]]),
                    ids[:10],
                    scores[:10],
                )
                for hits, scores, ids in zip(found, *truth, strict=True)
            ]
        )
    )


def warm_page_cache(root: Path) -> float:
    """Read every file of the index once (into the page cache, not this process); seconds."""
    started = time.perf_counter()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        with open(path, "rb", buffering=0) as f:
            while f.read(1 << 23):
                pass
    return time.perf_counter() - started


def memory_mb() -> dict[str, float]:
    """This process's peak resident set (VmHWM: its own memory and the pages of memory-mapped
    files it touched, which the kernel can drop) and its own memory now (RssAnon), MB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {
        name: int(fields[key].split()[0]) / 1024
        for name, key in (("peak_rss_mb", "VmHWM"), ("anon_mb", "RssAnon"))
    }


def search_measurements(root: Path, count: int) -> dict[str, Any]:
    """Latency (one query at a time, the store open) and recall@10 against exact, per mode;
    memory measured before the exact searches that the recall needs."""
    store = IndexStore.open(root)
    q = queries(store, count)
    out: dict[str, Any] = {}
    found_by: dict[str, list[list[Hit]]] = {}
    for by in MODES:
        latencies, found_by[by] = [], []
        for i in range(count):
            one = {n: v[i : i + 1] for n, v in q.items()}
            t = time.perf_counter()
            hits = ranked(store, one, by, 10)[0]
            latencies.append(time.perf_counter() - t)
            found_by[by].append(hits)
        out[by] = {
            "p50_ms": 1000 * float(np.percentile(latencies, 50)),
            "p95_ms": 1000 * float(np.percentile(latencies, 95)),
        }
    out["memory"] = memory_mb()
    for by, found in found_by.items():
        if by == "style":
            truth = exact_fused(store, q, 10)
        elif by == "content":
            truth = exact_space(store, "content", q["content"], 10)
        else:
            from stylesim.index.spaces import stacked, style_weights

            rel = store.relative_query(
                stacked(q, style_weights(store.descriptors, store.fusion)),
                q["content"],
                store.version_threshold(),
            )
            truth = exact_space(store, "style-relative", rel, 10)
        out[by]["recall_at_10"] = recall_at_10(found, truth)
        log(f"{by}: {out[by]}")
    log(f"memory while searching: {out['memory']}")
    return out


COLD = """
import sys, time
t = time.perf_counter()
import numpy as np
import pandas as pd
from stylesim.index.search import ranked
from stylesim.index.store import IndexStore
store = IndexStore.open(sys.argv[1])
q = {n: np.load(sys.argv[2] + f".{n}.npy") for n in store.descriptors}
hits = ranked(store, q, "style", 10)
print(time.perf_counter() - t)
"""


def cold_query(root: Path, work: Path) -> float:
    """Seconds for a new process to import, open the index and answer one ``--by style`` query."""
    store = IndexStore.open(root)
    one = store.ids()[:1]
    for name in store.descriptors:
        np.save(work / f"cold.{name}.npy", store.vectors_of(name, one))
    try:  # drop the page cache where allowed (root on Linux), so the index is read from disk
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        dropped = True
    except OSError:
        dropped = False
    result = subprocess.run(
        [sys.executable, "-c", COLD, str(root), str(work / "cold")],
        capture_output=True,
        text=True,
        check=True,
    )
    log(f"cold open + query: {result.stdout.strip()} s (page cache {'dropped' if dropped else 'warm'})")
    return float(result.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--add", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/stylesim-scale"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    root, timings = build(args.work, args.items)
    store = IndexStore.open(root)
    report: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "items": len(store),
        "build": timings,
        "disk_bytes_per_item": store.disk_bytes() / len(store),
        "segments": [len(s) for s in store.segments],
    }
    log(f"built: {report}")
    report["page_cache_warm_s"] = warm_page_cache(root)
    log(f"index files read into the page cache in {report['page_cache_warm_s']:.0f} s")
    measure = [sys.executable, __file__, "--measure", str(root), str(args.queries)]
    child = subprocess.run(measure, capture_output=True, text=True, check=True)
    sys.stderr.write(child.stderr)
    report["search"] = json.loads(child.stdout)
    real, _ = real_raw_vectors(args.work / "real-index")
    report["add"] = add_items(linked_copy(root, args.work / "index-added"), real, 10**8, args.add, seed=2)
    log(f"added {args.add}: {report['add']}")
    report["cold_open_query_s"] = cold_query(root, args.work)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":
        print(json.dumps(search_measurements(Path(sys.argv[2]), int(sys.argv[3]))))
    else:
        main()
