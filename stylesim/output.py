"""Formatting search results for stdout: table, json, csv, paths."""

from __future__ import annotations

import csv
import io
import json
import math

FORMATS = ("table", "json", "csv", "paths")
CSV_COLUMNS = ("query", "by", "rank", "score", "path", "id", "kind", "width", "height", "video", "time", "frame")


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


def _rows(result: dict) -> list[dict]:
    """CSV rows of one result: a grouped video gives one row per moment."""
    if result.get("kind") != "video":
        return [result]
    return [{**result, "kind": "frame", "video": result["path"], **moment} for moment in result["moments"]]


def render(results: list[dict], fmt: str) -> str:
    """Text for stdout (ends with a newline unless empty). Grouped results (``kind`` "video")
    list their moments under the video in tables, one CSV row per moment."""
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
                for row in _rows(r):
                    writer.writerow({"query": q["query"], "by": q["by"], **row})
        return buf.getvalue()
    if fmt == "table":
        blocks = []
        for q in results:
            lines = [f"# {q['query']}  (by {q['by']}, {len(q['results'])} results)"]
            for r in q["results"]:
                lines.append(f"{r['rank']:>4}  {r['score']:.4f}  {_where(r)}")
                lines += [f"{'':>4}  {m['score']:.4f}    @ {format_time(m['time'])}" for m in r.get("moments", [])]
            blocks.append("\n".join(lines) + "\n")
        return "\n".join(blocks)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
