"""Formatting search results for stdout: table, json, csv, paths."""

from __future__ import annotations

import csv
import io
import json
import math

FORMATS = ("table", "json", "csv", "paths")
CSV_COLUMNS = ("query", "by", "rank", "score", "path", "id", "kind", "width", "height", "video", "time")


def format_time(seconds: float) -> str:
    """HH:MM:SS.mmm"""
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _where(result: dict) -> str:
    if result.get("kind") == "frame" and result.get("time") is not None and not math.isnan(result["time"]):
        return f"{result['video']}@{format_time(result['time'])}"
    return result["path"]


def render(results: list[dict], fmt: str) -> str:
    """Text for stdout (ends with a newline unless empty)."""
    if fmt == "json":
        return json.dumps(results, indent=2, ensure_ascii=False) + "\n"
    if fmt == "paths":
        return "".join(f"{_where(r)}\n" for q in results for r in q["results"])
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for q in results:
            for r in q["results"]:
                writer.writerow({"query": q["query"], "by": q["by"], **r})
        return buf.getvalue()
    if fmt == "table":
        blocks = []
        for q in results:
            lines = [f"# {q['query']}  (by {q['by']}, {len(q['results'])} results)"]
            lines += [f"{r['rank']:>4}  {r['score']:.4f}  {_where(r)}" for r in q["results"]]
            blocks.append("\n".join(lines) + "\n")
        return "\n".join(blocks)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
