"""One grammar for times in videos, read (``--every 2s``, ``talk.mp4@00:01:05.250``) and written
(``HH:MM:SS.mmm`` in results): ``parse_seconds`` and ``format_time`` are inverses on
milliseconds, and ``split_frame_reference`` accepts exactly what ``parse_seconds`` reads."""

from __future__ import annotations

import re

from stylesim.errors import StylesimError

_PLAIN = re.compile(r"([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?")
_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
TIME_EXAMPLES = "2s, 1.5, 500ms, 01:05 or 00:01:05.250"


def _clock_seconds(text: str) -> float | None:
    """``MM:SS`` or ``HH:MM:SS(.fff)``; None if ``text`` is not of that form."""
    parts = text.split(":")
    if len(parts) > 3 or not all(re.fullmatch(r"[0-9]*\.?[0-9]+", p) for p in parts):
        return None
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    return seconds


def read_seconds(text: str) -> float | None:
    """Seconds from ``90``, ``1.5s``, ``500ms``, ``2m``, ``1h``, ``01:05``, ``00:01:05.250``;
    None if ``text`` is not a time."""
    t = text.strip().lower()
    if ":" in t:
        return _clock_seconds(t)
    match = _PLAIN.fullmatch(t)
    if not match:
        return None
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def parse_seconds(text: str) -> float:
    """``read_seconds``, or StylesimError naming the text and the accepted forms."""
    seconds = read_seconds(text)
    if seconds is None:
        raise StylesimError(f"{text!r} is not a time; write e.g. {TIME_EXAMPLES}")
    return seconds


def split_frame_reference(text: str) -> tuple[str, float] | None:
    """``video.mp4@00:01:05`` -> (``video.mp4``, 65.0); None if ``text`` is not of that form
    (``me@home.jpg`` is a file name, not a frame)."""
    path, at, when = text.rpartition("@")
    if not at or not path:
        return None
    seconds = read_seconds(when)
    return None if seconds is None else (path, seconds)


def format_time(seconds: float) -> str:
    """HH:MM:SS.mmm (rounded to the millisecond)."""
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"
