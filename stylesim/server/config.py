"""What ``stylesim serve`` was told: the indexes by name, where to listen, who may ask, limits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from stylesim.errors import UsageError

MIB = 2**20


@dataclass
class ServeConfig:
    indexes: dict[str, Path]  # name -> folder, in the order given; the first is the default
    # name -> (Qdrant server URL or local-mode folder, collection written by export-qdrant),
    # served after the folders (the first is the default when there are none)
    collections: dict[str, tuple[str, str]] = field(default_factory=dict)
    device: str = "auto"
    precision: str = "auto"
    token: str | None = None  # every route but /health then needs "Authorization: Bearer TOKEN"
    cors_origins: tuple[str, ...] = ()  # "*" only when asked for
    max_upload_bytes: int = 32 * MIB
    max_k: int = 1000  # larger k is capped, not refused
    allow_image_url: bool = False  # clip back's image_url: fetching arbitrary URLs is off by default
    batch_window_ms: float = 5.0  # concurrent queries wait this long to share one forward pass
    max_batch: int = 16
    gatys_workers: int = field(default_factory=lambda: os.cpu_count() or 1)  # at most one job per core
    reload_seconds: float = 1.0  # how often a served index looks for a new committed generation
    decoder: str | None = None  # AdaIN decoder file (default: the installed one)


def parse_indexes(specs: list[str]) -> dict[str, Path]:
    """``DIR`` (named after the folder) or ``NAME=DIR`` for each ``--index``; UsageError on a
    name given twice."""
    out: dict[str, Path] = {}
    for spec in specs:
        name, sep, folder = spec.partition("=")
        path = Path(folder if sep else spec).expanduser()
        name = name if sep else (path.resolve().name or "index")
        if name in out:
            raise UsageError(f"--index {spec}: the name {name!r} is already taken; write NAME=DIR")
        out[name] = path
    return out


def parse_collections(qdrant: str | None, specs: list[str]) -> dict[str, tuple[str, str]]:
    """``COLLECTION`` or ``NAME=COLLECTION`` for each ``--collection``, all on the Qdrant at
    ``qdrant``; UsageError when one is given without the other."""
    if bool(qdrant) != bool(specs):
        raise UsageError("--qdrant and --collection go together")
    out: dict[str, tuple[str, str]] = {}
    for spec in specs:
        name, sep, collection = spec.partition("=")
        out[name] = (str(qdrant), collection if sep else name)
    return out


def parse_size(text: str) -> int:
    """``32M``, ``512K``, ``1G`` or a number of bytes (at least one)."""
    units = {"K": 2**10, "M": MIB, "G": 2**30}
    value = text.strip().upper().removesuffix("B")
    try:
        size = int(float(value[:-1]) * units[value[-1]]) if value and value[-1] in units else int(value)
    except (ValueError, OverflowError):
        raise UsageError(f"{text!r}: write a size such as 32M, 512K or 1048576") from None
    if size < 1:
        raise UsageError(f"{text!r}: a size must be at least one byte")
    return size
