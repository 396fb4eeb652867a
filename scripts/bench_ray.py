"""The local and the Ray engine on the same images on this machine, each from a fresh process
(Python, torch, the model and, for Ray, a local Ray instance started by ``ray.init()``; the
page cache warmed by one import of them first), and a projection for N nodes from the measured
per-worker rate and the reduce step's cost.

    python scripts/bench_ray.py --images 2000 --work /var/tmp/stylesim-ray --json out.json
    python scripts/bench_ray.py --folder ~/Pictures --images 500 --work /tmp/bench-ray

Images: ``--folder`` (its raster files), else real files from the Debian packages cached by
stylesim/evaluation/sets/debian.py (wallpapers, icon themes, clip art, patterns: PNG and JPEG under
usr/share, both sides >= 64 px), taken round-robin over the packages so that every kind is in
the mix; never gcompris-qt-data (held out). The chosen files are copied into WORK/images and
listed in WORK/images.txt.

Measured per engine (``stylesim index --size 256 --device cpu``, API calls in a child
process): wall time of the process, img/s, and the reduce step (``indexing.run.finish_run``:
merge the journal, fit the statistics, approximate indexes, relative vectors, commit), the
same code in both engines. The Ray overhead is the ratio of the wall times. The projection
uses the Ray run's per-worker rate (its map phase: all but the reduce step, Ray's start
included) and the reduce step measured at 100 000 items by scripts/bench_scale.py (its
``merge_commit_s``, read from ``--scale-json``).
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

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))
sys.path.insert(0, str(SCRIPTS.parent))

RASTER = (".png", ".jpg", ".jpeg")
HELD_OUT = "gcompris-qt-data"
MIN_SIDE = 64
SIZE = 256
PROJECTED_ITEMS = 100_000
NODES = (1, 2, 4, 8, 16)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def big_enough(path: Path) -> bool:
    """A raster image Pillow can open whose both sides are at least MIN_SIDE px (header only)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return min(image.size) >= MIN_SIDE
    except (OSError, ValueError, SyntaxError):
        return False


def candidates(package: Path) -> list[Path]:
    """A package's PNG and JPEG files under usr/share, in name order."""
    share = package / "usr" / "share"
    return sorted(p for p in share.rglob("*") if p.suffix.lower() in RASTER and p.is_file())


def debian_images(cache: Path, count: int) -> list[Path]:
    """``count`` images from the cached Debian packages, round-robin over the packages (each
    package's files in name order), both sides >= MIN_SIDE px; never the held-out package."""
    from stylesim.evaluation.sets.debian import round_robin

    queues = {
        p.name: iter(candidates(p)) for p in sorted(cache.iterdir()) if p.is_dir() and p.name != HELD_OUT
    }
    return round_robin(queues, count, big_enough)


def folder_images(folder: Path, count: int) -> list[Path]:
    """The first ``count`` raster images (name order) under ``folder``, both sides >= MIN_SIDE px."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in RASTER and p.is_file())
    return [p for p in files if big_enough(p)][:count]


def stage(images: list[Path], work: Path, origin: Path) -> Path:
    """Copy the images into WORK/images (numbered: names repeat across packages) and list them
    in WORK/images.txt, relative to ``origin``."""
    folder = work / "images"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for number, path in enumerate(images):
        shutil.copyfile(path, folder / f"{number:05d}-{path.name}")
    (work / "images.txt").write_text("".join(f"{p.relative_to(origin)}\n" for p in images))
    return folder


def child(engine: str, folder: str, index: str) -> None:
    """In a fresh process: index ``folder`` with ``engine``; prints seconds and counts as JSON."""
    from stylesim import api
    from stylesim.indexing import run

    reduce_seconds = []
    finish = run.finish_run

    def timed(*args: Any, **kwargs: Any) -> None:
        start = time.perf_counter()
        finish(*args, **kwargs)
        reduce_seconds.append(time.perf_counter() - start)

    run.finish_run = timed  # the reduce step of both engines (indexing.run.conduct calls it)
    start = time.perf_counter()
    report = api.build_index([folder], index, size=SIZE, device="cpu", engine=engine)
    total = time.perf_counter() - start
    print(json.dumps({"build_s": total, "reduce_s": reduce_seconds[0], "added": report.added,
                      "skipped": len(report.skipped)}))  # fmt: skip


def warm_up() -> None:
    """Import torch, Ray and the package once, so that neither engine pays for a cold page cache."""
    code = "import torch, ray, ray.data, stylesim.api, stylesim.indexing.ray_engine"
    subprocess.run([sys.executable, "-c", code], check=True)


def measure(engine: str, folder: Path, work: Path) -> dict[str, Any]:
    """One engine from a cold process: wall time, img/s, the reduce step."""
    index = work / f"index-{engine}"
    shutil.rmtree(index, ignore_errors=True)
    log(f"{engine}: indexing {folder}")
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", engine, str(folder), str(index)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - start
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(engine=engine, wall_s=wall, img_per_s=result["added"] / wall)
    log(f"{engine}: {result['added']} items in {wall:.1f} s ({result['img_per_s']:.2f} img/s)")
    return result


def projection(ray: dict[str, Any], reduce_100k: float | None) -> list[dict[str, Any]]:
    """Wall time at PROJECTED_ITEMS on N nodes like this one (one encoder actor each, at the
    measured per-worker rate; Ray's start as measured) and the reduce step's share."""
    map_s = ray["wall_s"] - ray["reduce_s"]
    rate = ray["added"] / map_s  # per worker, Ray's start included
    rows = []
    for nodes in NODES:
        map_n = PROJECTED_ITEMS / (nodes * rate)
        row: dict[str, Any] = {"nodes": nodes, "map_s": map_n}
        if reduce_100k is not None:
            row.update(
                reduce_s=reduce_100k,
                total_s=map_n + reduce_100k,
                reduce_share=reduce_100k / (map_n + reduce_100k),
            )
        rows.append(row)
    return rows


def machine() -> dict[str, Any]:
    import ray
    import torch

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "ray": ray.__version__,
        "load_avg_1m_at_start": os.getloadavg()[0],
    }


def report(local: dict[str, Any], ray: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """The table on stdout."""
    print("| engine | items | wall (s) | img/s | reduce step (s) | reduce share |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in (local, ray):
        share = r["reduce_s"] / r["wall_s"]
        print(f"| {r['engine']} | {r['added']} | {r['wall_s']:.1f} | {r['img_per_s']:.2f} | ", end="")
        print(f"{r['reduce_s']:.1f} | {share:.1%} |")
    print(f"\nRay overhead: {ray['wall_s'] / local['wall_s']:.2f}x the local engine's wall time")
    print(f"\nProjection (not measured): {PROJECTED_ITEMS} items on N nodes like this one")
    print("| nodes | map (s) | reduce (s) | total (s) | reduce share |")
    print("|---:|---:|---:|---:|---:|")
    for row in rows:
        reduce = (
            f"{row['reduce_s']:.0f} | {row['total_s']:.0f} | {row['reduce_share']:.0%}"
            if "reduce_s" in row
            else "- | - | -"
        )
        print(f"| {row['nodes']} | {row['map_s']:.0f} | {reduce} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--folder", type=Path, help="Take the images from here (default: the Debian cache).")
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/stylesim-ray"))
    scale = Path("/var/tmp/stylesim-scale/build-100000.json")
    parser.add_argument(
        "--scale-json", type=Path, default=scale, help="bench_scale.py's build at 100 000 items."
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from stylesim.evaluation.sets.debian import cache_root

    origin = (args.folder or cache_root()).expanduser()
    images = folder_images(origin, args.images) if args.folder else debian_images(origin, args.images)
    log(f"{len(images)} images from {origin}")
    folder = stage(images, args.work, origin)
    info = machine()
    warm_up()
    local, ray = measure("local", folder, args.work), measure("ray", folder, args.work)
    scale = json.loads(args.scale_json.read_text()) if args.scale_json.is_file() else {}
    rows = projection(ray, scale.get("merge_commit_s"))
    report(local, ray, rows)
    if args.json:
        out = {"machine": info, "images": len(images), "source": str(origin), "local": local, "ray": ray,
               "overhead": ray["wall_s"] / local["wall_s"], "reduce_100k_s": scale.get("merge_commit_s"),
               "projection": rows}  # fmt: skip
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
