"""Pending batches: every encoded batch is written at once as one shard file (temp + rename),
so a run killed at any point loses at most the batch in flight; the next writer merges the
shards into the index before doing anything else."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stylesim.index.segment import fsync_path

PENDING = "pending"


def write_shard(
    root: Path, ids: np.ndarray, vectors: dict[str, np.ndarray], rows: list[dict[str, Any]]
) -> Path:
    """Atomically write one batch: raw float32 vectors per descriptor and its metadata rows."""
    folder = root / PENDING
    folder.mkdir(exist_ok=True)
    name = f"shard-{int(ids.min()):012d}-{uuid.uuid4().hex[:8]}.npz"
    tmp = folder / (name + ".tmp")
    with open(tmp, "wb") as f:
        meta = np.frombuffer(json.dumps(rows).encode(), np.uint8)  # UTF-8 (a numpy str is UTF-32)
        arrays: dict[str, np.ndarray] = {"ids": ids.astype(np.int64), "meta": meta}
        arrays.update({f"vec_{k}": np.asarray(v, np.float32) for k, v in vectors.items()})
        np.savez(f, allow_pickle=False, **arrays)
        f.flush()
        os.fsync(f.fileno())
    final = folder / name
    os.replace(tmp, final)
    fsync_path(folder)  # the rename itself survives a power cut
    return final


def pending_shards(root: Path) -> list[Path]:
    folder = root / PENDING
    if not folder.is_dir():
        return []
    for stale in folder.glob("*.tmp"):  # a batch whose write was interrupted: never complete
        stale.unlink(missing_ok=True)
    return sorted(folder.glob("shard-*.npz"))


def read_shard(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray], pd.DataFrame]:
    ids, rows = read_meta(path)
    return ids, read_vectors(path), rows


def read_meta(path: Path) -> tuple[np.ndarray, pd.DataFrame]:
    """A shard's ids and metadata rows, without reading its vectors."""
    with np.load(path, allow_pickle=False) as z:
        meta = z["meta"]  # UTF-8 bytes; a str scalar in shards written by stylesim 0.2
        text = meta.tobytes().decode() if meta.dtype == np.uint8 else str(meta)
        return z["ids"], pd.DataFrame(json.loads(text))


def read_vectors(path: Path) -> dict[str, np.ndarray]:
    """A shard's raw vectors per descriptor (float32)."""
    with np.load(path, allow_pickle=False) as z:
        return {k[4:]: np.asarray(z[k], np.float32) for k in z.files if k.startswith("vec_")}
