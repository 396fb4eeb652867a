"""``stylesim serve`` under load: throughput and latency of uploads from N concurrent clients,
against the bare batched encoder and sequential ``stylesim search`` processes (issue 15).

    python scripts/bench_serve.py --json docs/data/serve.json     # ~5 min once the indexes are cached
    python scripts/bench_serve.py --seconds 10 --clients 1 8             # a quick look

The collection: --images real raster images (PNG/JPEG, both sides >= 64 px, at most
api.DEFAULT_MAX_PIXELS, no links) from the Debian packages unpacked under
~/.cache/stylesim/debian (wallpapers, icon themes, clip art, patterns, manuals...), taken in
turn from each package, each package's files in a fixed pseudo-random order (sha1 of the path);
nothing from gcompris-qt-data, held out for evaluation.
Every 61st picked image is kept out of the index as an upload query. The collection is indexed
with ``stylesim index`` (cached under --work). A second index of ID_ITEMS items for the
query-by-id latency is that real index plus synthetic items fitted to its raw vectors
(scripts/bench_scale.py: journalled as encoded batches would be).

Measured, in this order and in one run:

- bare forward: the same model and precision as the server (``api.make_extractor`` for the
  index), ``api.encode_queries`` on batches of the server's size (16) of the decoded query
  pictures, decoding excluded -> images/s;
- the server (``stylesim serve`` in a subprocess, both indexes, on a free port): for each N in
  --clients, N threads (one httpx client each) POST /search with one uploaded query image each
  time, for --seconds -> requests/s, latency p50/p95/p99, errors (any non-200 or failure);
- query by id on the ID_ITEMS index (GET /search?q=id:N, one client) -> p50/p95;
- sequential ``stylesim search`` processes, one query each (start, model and index loading
  included) -> s/query.

Goals (issue 15): 0 errors at 32 clients; throughput at 32 clients >= 0.8 x the bare forward
rate; query by id p50 <= 20 ms on 10 000 items. Results as JSON on stdout (and --json FILE);
progress on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_scale import add_items, log, real_raw_vectors  # noqa: E402

HELD_OUT = ("gcompris-qt-data",)  # evaluation data: never indexed nor queried here
EXTENSIONS = (".png", ".jpg", ".jpeg")
MIN_SIDE = 64
QUERY_EVERY = 61  # every 61st picked image is an upload query, kept out of the index
ID_ITEMS = 10_000
SERVER_BATCH = 16  # ServeConfig.max_batch
GOALS = {"errors_at_32": 0, "ratio_at_32": 0.8, "id_p50_ms": 20.0}


def package_files(cache: Path) -> dict[str, list[Path]]:
    """Raster files (no links) of each unpacked package but the held-out ones, each package's
    list in a fixed pseudo-random order (sha1 of the path)."""
    out = {}
    for package in sorted(p for p in cache.iterdir() if p.is_dir() and p.name not in HELD_OUT):
        files = [
            p
            for p in package.rglob("*")
            if p.suffix.lower() in EXTENSIONS and p.is_file() and not p.is_symlink()
        ]
        if files:
            out[package.name] = sorted(files, key=lambda p: hashlib.sha1(str(p).encode()).hexdigest())
    return out


def usable(path: Path) -> bool:
    """Pillow reads the header, both sides are at least MIN_SIDE and the picture is no larger
    than the server accepts (``api.DEFAULT_MAX_PIXELS``)."""
    from PIL import Image

    from stylesim import api

    try:
        with warnings.catch_warnings(), Image.open(path) as image:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return min(image.size) >= MIN_SIDE and image.size[0] * image.size[1] <= api.DEFAULT_MAX_PIXELS
    except Exception:  # noqa: BLE001 - any unreadable file is simply skipped
        return False


def pick_images(cache: Path, count: int) -> list[Path]:
    """``count`` usable images, one from each package in turn (module docstring)."""
    from stylesim.evaluation.sets.debian import round_robin

    return round_robin({name: iter(files) for name, files in package_files(cache).items()}, count, usable)


def collection(cache: Path, work: Path, count: int) -> tuple[list[Path], list[Path]]:
    """(indexed images, upload queries), picked once and cached in ``work``/images.json."""
    listing = work / "images.json"
    if not listing.exists():
        log(f"picking {count} images under {cache}")
        picked = pick_images(cache, count + count // (QUERY_EVERY - 1))
        listing.write_text(json.dumps([str(p) for p in picked]))
    picked = [Path(p) for p in json.loads(listing.read_text())]
    queries = picked[QUERY_EVERY // 2 :: QUERY_EVERY]
    return [p for i, p in enumerate(picked) if i % QUERY_EVERY != QUERY_EVERY // 2], queries


def real_index(work: Path, images: list[Path]) -> Path:
    """``images`` indexed by ``stylesim index`` (once; a failed file is listed and skipped)."""
    root = work / "index-real"
    if not (root / "CURRENT").exists():
        log(f"indexing {len(images)} images with stylesim index (~7 images/s)")
        listing = work / "index-paths.txt"
        listing.write_text("\n".join(map(str, images)))
        done = subprocess.run(["stylesim", "index", "--index", str(root), *map(str, images)], check=False)
        if done.returncode not in (0, 3):  # 3: some files could not be indexed
            raise SystemExit(f"stylesim index failed with status {done.returncode}")
    return root


def id_index(work: Path, real_root: Path, items: int) -> Path:
    """The real index's items plus synthetic ones up to ``items`` (scripts/bench_scale.py)."""
    from stylesim.index.store import IndexStore

    root = work / f"index-{items}"
    if (root / "CURRENT").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    real, rows = real_raw_vectors(real_root)
    with IndexStore.open_for_writing(root, IndexStore.open(real_root).manifest) as store:
        store.write_pending(store.allocate_ids(len(rows)), real, rows)
    log(f"adding {items - len(rows)} synthetic items for the query-by-id index")
    add_items(root, real, 0, items - len(rows), seed=0)
    return root


def item_ids(root: Path) -> np.ndarray:
    from stylesim.index.store import IndexStore

    return np.asarray(IndexStore.open(root).ids())


def latency_summary(latencies: list[float]) -> dict[str, float]:
    """p50/p95/p99 of ``latencies`` (seconds) in milliseconds."""
    if not latencies:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}
    return {f"p{q}_ms": 1000 * float(np.percentile(latencies, q)) for q in (50, 95, 99)}


def read_uploads(paths: list[Path]) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in paths]


def bare_forward(root: Path, uploads: list[tuple[str, bytes]], seconds: float) -> dict[str, Any]:
    """Images/s of ``api.encode_queries`` on batches of SERVER_BATCH decoded uploads (cycled),
    with the model and precision the server builds for ``root``; decoding excluded."""
    from stylesim import api
    from stylesim.index.store import IndexStore

    manifest = IndexStore.open(root).manifest
    extractor = api.make_extractor(manifest, "auto", "auto")
    size = int(manifest["image_size"])
    pictures = [api.uploaded_picture(data, name, size) for name, data in uploads]
    batches = [
        [pictures[(start + i) % len(pictures)] for i in range(SERVER_BATCH)]
        for start in range(0, len(pictures), SERVER_BATCH)
    ]
    api.encode_queries(batches[0], extractor, SERVER_BATCH)  # warm-up
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        api.encode_queries(batches[(done // SERVER_BATCH) % len(batches)], extractor, SERVER_BATCH)
        done += SERVER_BATCH
    elapsed = time.perf_counter() - t0
    shapes = len({p.pixels.shape for p in pictures})
    log(f"bare forward: {done / elapsed:.2f} images/s ({extractor.precision}, {shapes} input shapes)")
    return {
        "images_per_s": done / elapsed,
        "images": done,
        "seconds": elapsed,
        "input_shapes": shapes,
        "precision": str(extractor.precision),
        "batch": SERVER_BATCH,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(indexes: dict[str, Path], port: int) -> subprocess.Popen[bytes]:
    """``stylesim serve`` on ``port`` serving ``indexes``, once /health answers."""
    import httpx

    command = ["stylesim", "serve", "--port", str(port), "--precision", "auto"]
    for name, root in indexes.items():
        command += ["--index", f"{name}={root}"]
    server = subprocess.Popen(command)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"stylesim serve exited with status {server.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.terminate()
    raise SystemExit("stylesim serve did not answer /health within 120 s")


def hammer(clients: int, seconds: float, send: Callable[[Any, int], int]) -> dict[str, Any]:
    """``clients`` threads, each with its own httpx client, calling ``send(client, n)`` (n: the
    thread's request count so far; it returns the HTTP status) until ``seconds`` have passed:
    requests/s (successes over the time until the last one ended), latency, errors."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = time.perf_counter()

    def client(number: int) -> None:
        with httpx.Client(timeout=300) as http:
            n = number
            while time.perf_counter() - start < seconds:
                t = time.perf_counter()
                try:
                    status, failure = send(http, n), ""
                except httpx.HTTPError as error:
                    status, failure = 0, f"{type(error).__name__}: {error}"
                with lock:
                    if status == 200:
                        latencies.append(time.perf_counter() - t)
                    else:
                        errors.append(failure or f"HTTP {status}")
                n += clients

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return {
        "clients": clients,
        "requests": len(latencies),
        "seconds": elapsed,
        "requests_per_s": len(latencies) / elapsed,
        **latency_summary(latencies),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:3],
    }


def upload_load(base: str, uploads: list[tuple[str, bytes]], clients: int, seconds: float) -> dict[str, Any]:
    """POST /search with one uploaded image per request (k 10, by style) from ``clients`` threads."""

    def send(http: Any, n: int) -> int:
        name, data = uploads[n % len(uploads)]
        reply = http.post(f"{base}/search", files={"file": (name, data)}, data={"k": "10", "index": "real"})
        return int(reply.status_code)

    result = hammer(clients, seconds, send)
    latency = ", ".join(f"{k.removesuffix('_ms')} {result[k]:.0f} ms" for k in ("p50_ms", "p95_ms", "p99_ms"))
    log(f"{clients} clients: {result['requests_per_s']:.2f} requests/s, {latency}, {result['errors']} errors")
    return result


def warm_up(base: str, uploads: list[tuple[str, bytes]]) -> None:
    """Two uploads, one after the other: the server loads the model at the first."""
    import httpx

    for name, data in uploads[:2]:
        reply = httpx.post(
            f"{base}/search", files={"file": (name, data)}, data={"index": "real"}, timeout=300
        )
        if reply.status_code != 200:
            raise SystemExit(f"the warm-up query failed: HTTP {reply.status_code} {reply.text}")


def id_order(items: np.ndarray) -> np.ndarray:
    return np.random.default_rng(3).permutation(items)


def id_load(base: str, items: np.ndarray, seconds: float, by: str) -> dict[str, Any]:
    """GET /search?q=id:N (k 10) for ``items`` in a fixed random order on the ID_ITEMS index,
    from one client: no encoding."""
    ids = id_order(items)

    def send(http: Any, n: int) -> int:
        params = {"q": f"id:{ids[n % len(ids)]}", "k": 10, "by": by, "index": "ids"}
        return int(http.get(f"{base}/search", params=params).status_code)

    warm = hammer(1, 1.0, send)  # first touches of the index files
    result = {**hammer(1, seconds, send), "items": len(items), "warm_up_requests": warm["requests"]}
    log(
        f"query by id, --by {by}, {len(items)} items: "
        f"p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms"
    )
    return result


def id_in_process(root: Path, items: np.ndarray, seconds: float, by: str) -> dict[str, float]:
    """Latency of ``api.search_items`` alone (what GET /search?q=id:N runs), in this process."""
    from stylesim import api

    store = api.open_index(root)
    ids, latencies = id_order(items), list[float]()
    api.search_items(store, [int(ids[-1])], by=by, k=10)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        api.search_items(store, [int(ids[len(latencies) % len(ids)])], by=by, k=10)
        latencies.append(time.perf_counter() - t)
    log(f"  the same search in process: p50 {1000 * float(np.median(latencies)):.1f} ms")
    return {**latency_summary(latencies), "requests": len(latencies)}


def cli_searches(root: Path, queries: list[Path]) -> dict[str, Any]:
    """Seconds per ``stylesim search`` process (start, model and index loading, one query)."""
    times = []
    for query in queries:
        t = time.perf_counter()
        subprocess.run(
            ["stylesim", "search", "--index", str(root), "--format", "json", "-k", "10", str(query)],
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - t)
    log(f"stylesim search: {np.mean(times):.2f} s/query over {len(times)} processes")
    return {
        "processes": len(times),
        "s_per_query": float(np.mean(times)),
        "min_s": min(times),
        "max_s": max(times),
        "queries_per_s": 1 / float(np.mean(times)),
    }


def machine() -> dict[str, Any]:
    """The CPU (lscpu's model name), its core count, bf16 units, and the software."""
    import torch

    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in flags.splitlines() if "model name" in line), "")
    return {
        "cpu": model or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "avx512_bf16": " avx512_bf16" in flags,
        "gpu": torch.cuda.is_available(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def goals(report: dict[str, Any]) -> dict[str, Any]:
    """Each issue-15 goal: the measured value and whether it is met (None: not measured)."""
    at_32 = report["server"].get("32")
    ratio = at_32["requests_per_s"] / report["bare_forward"]["images_per_s"] if at_32 else None
    id_p50 = report["by_id"]["style"]["p50_ms"]
    return {
        "errors_at_32": {
            "value": at_32["errors"] if at_32 else None,
            "met": at_32["errors"] == GOALS["errors_at_32"] if at_32 else None,
        },
        "ratio_at_32": {
            "value": ratio,
            "goal": GOALS["ratio_at_32"],
            "met": ratio >= GOALS["ratio_at_32"] if ratio is not None else None,
        },
        "id_p50_ms": {
            "value": id_p50,
            "goal": GOALS["id_p50_ms"],
            "met": id_p50 <= GOALS["id_p50_ms"],
            "items": report["by_id"]["style"]["items"],
        },
    }


def measure(args: argparse.Namespace, real: Path, ids: Path, queries: list[Path]) -> dict[str, Any]:
    """Bare forward, the server under each client count, query by id, then ``stylesim search``."""
    import httpx

    uploads = read_uploads(queries)
    report: dict[str, Any] = {"bare_forward": bare_forward(real, uploads, args.seconds)}
    port = free_port()
    server = start_server({"real": real, "ids": ids}, port)
    base = f"http://127.0.0.1:{port}"
    try:
        warm_up(base, uploads)
        report["server"] = {str(n): upload_load(base, uploads, n, args.seconds) for n in args.clients}
        everything = item_ids(ids)
        report["by_id"] = {
            by: {
                **id_load(base, everything, args.seconds, by),
                "in_process": id_in_process(ids, everything, min(args.seconds, 10), by),
            }
            for by in ("style", "content")
        }
        report["health"] = httpx.get(f"{base}/health").json()
    finally:
        server.terminate()
        server.wait(30)
    report["cli"] = cli_searches(real, queries[: args.cli_queries])
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=3000, help="real images to index (default 3000)")
    parser.add_argument("--id-items", type=int, default=ID_ITEMS, help="items of the query-by-id index")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each measurement (default 30)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32], help="concurrent clients")
    parser.add_argument("--cli-queries", type=int, default=4, help="stylesim search processes (default 4)")
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/stylesim-serve-bench"), help="cache")
    parser.add_argument("--data", type=Path, default=Path.home() / ".cache" / "stylesim" / "debian")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--prepare-only", action="store_true", help="build the indexes and stop")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    images, queries = collection(args.data, args.work, args.images)
    real = real_index(args.work, images)
    ids = id_index(args.work, real, args.id_items)
    if args.prepare_only:
        return
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "command": " ".join(["python", "scripts/bench_serve.py", *sys.argv[1:]]),
        "machine": machine(),
        "load_average_before": os.getloadavg(),
        "index": {
            "real_items": len(item_ids(real)),
            "id_items": len(item_ids(ids)),
            "queries": len(queries),
            "mean_query_bytes": float(np.mean([q.stat().st_size for q in queries])),
        },
        **measure(args, real, ids, queries),
    }
    report["load_average_after"] = os.getloadavg()  # 1, 5, 15 min: other work on the machine
    report["goals"] = goals(report)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
