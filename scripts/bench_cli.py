"""What a command costs before it does any work, and what one search costs as a process.

    python scripts/bench_cli.py [--index indexes/default] [--query samples/pencil/coffee.jpg] [--runs 5]

Each command runs ``--runs`` times as a fresh process (stdout discarded); the median and the
fastest wall time are reported: ``--help``, a usage error, ``info``, and one search by style,
split into its parts in the same process (import, model build, index open, query encoding,
search) to show where the fixed cost goes. JSON on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STYLESIM = shutil.which("stylesim") or "stylesim"  # the installed command, as a user runs it
COMMANDS = {
    "--help": ["--help"],
    "usage error (search --by texture)": ["search", "--by", "texture", "q.jpg"],
    "info": ["info", "--index", "{index}"],
    "search --by style, one query": ["search", "{query}", "--index", "{index}", "-k", "10"],
}

PARTS = """
import json, sys, time
t0 = time.perf_counter()
from stylesim import api
from stylesim.api.queries import encode_queries, load_queries
t1 = time.perf_counter()
store = api.open_index(sys.argv[1])
t2 = time.perf_counter()
extractor = api.make_extractor(store.manifest)
t3 = time.perf_counter()
pictures = [p for p in load_queries([sys.argv[2]], int(store.manifest["image_size"]))[0] if p]
raw = encode_queries(pictures, extractor)
t4 = time.perf_counter()
api.search_encoded(store, pictures, raw, "style", 10)
t5 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "open_index_s": t2 - t1, "build_model_s": t3 - t2,
                  "encode_query_s": t4 - t3, "search_s": t5 - t4}))
"""


def timed(argv: list[str], runs: int) -> dict[str, float]:
    """Median and fastest wall time of ``stylesim ARGV`` over ``runs`` fresh processes."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([STYLESIM, *argv], capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "fastest_s": min(times)}


def parts(index: Path, query: Path, runs: int) -> dict[str, float]:
    """Median of each part of one search, measured inside fresh processes."""
    rows = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", PARTS, str(index), str(query)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(runs)
    ]
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--index", type=Path, default=Path("indexes/default"))
    parser.add_argument("--query", type=Path, default=Path("samples/pencil/coffee.jpg"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    report: dict[str, Any] = {"index": str(args.index), "query": str(args.query), "runs": args.runs}
    for name, argv in COMMANDS.items():
        print(f"timing {name}", file=sys.stderr)
        filled = [a.format(index=args.index, query=args.query) for a in argv]
        report[name] = timed(filled, args.runs)
    print("timing the parts of one search", file=sys.stderr)
    report["search parts"] = parts(args.index, args.query, args.runs)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
