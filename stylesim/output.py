"""Formatting search results for stdout: table, json, csv, paths."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from stylesim.collection.timecode import format_time

FORMATS = ("table", "json", "csv", "paths")
CSV_COLUMNS = (
    "query",
    "by",
    "rank",
    "score",
    "path",
    "id",
    "kind",
    "width",
    "height",
    "video",
    "time",
    "frame",
)


def _where(result: dict[str, Any]) -> str:
    if result.get("kind") == "frame" and result.get("time") is not None and not math.isnan(result["time"]):
        return f"{result['video']}@{format_time(result['time'])}"
    return str(result["path"])


def _rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """CSV rows of one result: a grouped video gives one row per moment."""
    if result.get("kind") != "video":
        return [result]
    return [{**result, "kind": "frame", "video": result["path"], **moment} for moment in result["moments"]]


def render(results: list[dict[str, Any]], fmt: str) -> str:
    """Text for stdout (ends with a newline unless empty). Grouped results (``kind`` "video")
    list their moments under the video in tables, one CSV row per moment. ``paths`` prints one
    path a line; with several queries each line starts with its query and a tab."""
    if fmt == "json":
        return json.dumps(results, indent=2, ensure_ascii=False) + "\n"
    if fmt == "paths":
        prefix = len(results) > 1
        return "".join(
            f"{q['query'] + chr(9) if prefix else ''}{_where(r)}\n" for q in results for r in q["results"]
        )
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
                lines.append(f"{r['rank']:>4}  {r['score']:7.4f}  {_where(r)}")
                lines += [
                    f"{'':>4}  {m['score']:7.4f}    @ {format_time(m['time'])}" for m in r.get("moments", [])
                ]
            blocks.append("\n".join(lines) + "\n")
        return "\n".join(blocks)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
