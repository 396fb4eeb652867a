"""Indexes written by stylesim 0.1 (format 1: a folder per generation holding a FAISS IndexIDMap2
per descriptor, items.parquet, stats.npz, skipped.parquet and state.json) are upgraded in place
to format 2 the first time a writer opens them: every vector is read back from the FAISS files
and written as one segment, with the same ids, statistics and skipped files. Nothing is
re-encoded and nothing is lost. Readers refuse a format 1 index with the command that upgrades
it (``stylesim compact``, or any ``stylesim index`` run)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pandas as pd

from stylesim.descriptors.standardise import Standardiser
from stylesim.index.frames import with_columns_of
from stylesim.index.manifest import FORMAT_VERSION, MANIFEST, without_legacy_settings
from stylesim.index.segment import CHUNK
from stylesim.index.writing import finish_segment, new_segment, write_atomically

UPGRADED_FROM = "upgraded_from"  # in the first format 2 generation's state: the format 1 folder


def upgrade_if_needed(root: Path) -> bool:
    """Upgrade a format 1 index in place (the caller holds the writer lock); True if it was one.
    The order makes a stop anywhere safe: the new generation is committed, then the format 1
    folder removed (its name is kept in that generation, so a rerun removes what a stop left),
    then the manifest says format 2."""
    from stylesim.index.store import CURRENT, IndexStore

    path = root / MANIFEST
    if not path.exists():
        return False
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("format_version") != 1:
        return False
    upgraded = without_legacy_settings(
        {**manifest, "format_version": FORMAT_VERSION, "precision": manifest.get("precision", "fp32")}
    )
    pointer = root / CURRENT
    old = root / pointer.read_text().strip() if pointer.exists() else None
    if old is not None and old.is_dir():
        store = IndexStore(root, upgraded, writable=True)
        items = pd.read_parquet(old / "items.parquet")
        state = json.loads((old / "state.json").read_text())
        generation = int(state.get("generation", 0))
        store.state = {**state, "items": 0, "generation": generation, UPGRADED_FROM: old.name}
        load_v1_statistics(store, old)
        store._skipped, store.pending["skipped"] = pd.read_parquet(old / "skipped.parquet"), True
        if len(items):
            write_v1_segment(store, old, with_columns_of(items.sort_values("id"), store.item_dtypes()))
        store.commit()
    elif old is not None:  # an upgrade stopped after its commit: its format 1 folder may be left
        old = folder_left_by_the_upgrade(old)
    if old is not None and old.is_dir():
        shutil.rmtree(old, ignore_errors=True)
    write_atomically(path, (json.dumps(upgraded, indent=2) + "\n").encode())
    return True


def folder_left_by_the_upgrade(generation_file: Path) -> Path | None:
    """The format 1 folder that the upgrade which published ``generation_file`` came from."""
    try:
        name = json.loads(generation_file.read_text())["state"].get(UPGRADED_FROM)
    except (OSError, ValueError, KeyError, AttributeError):
        return None
    if not isinstance(name, str) or Path(name).name != name or not name.startswith("gen-"):
        return None  # never a path outside the index, nor anything but a format 1 generation folder
    return generation_file.parent / name


def load_v1_statistics(store: Any, old: Path) -> None:
    with np.load(old / "stats.npz") as arrays:
        for name in store.standardised():
            if f"{name}.mean" in arrays.files:
                store.stats[name] = Standardiser.from_arrays(
                    {k: arrays[f"{name}.{k}"] for k in ("mean", "scale", "count")}
                )
    store.pending["stats"] = True


def write_v1_segment(store: Any, old: Path, items: pd.DataFrame) -> None:
    """Every item's vectors, read back from the format 1 FAISS files, as one segment."""
    ids = items["id"].to_numpy(np.int64)
    writer = new_segment(store, ids)
    for name in store.descriptors:
        index: Any = faiss.read_index(str(old / f"{name}.faiss"))  # an IndexIDMap2 over a scalar quantizer
        stored_ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        for start in range(0, len(stored_ids), CHUNK):
            chunk = stored_ids[start : start + CHUNK]
            vectors = index.index.reconstruct_n(start, len(chunk))
            writer.arrays[name][np.searchsorted(ids, chunk)] = vectors
    writer.items(items)
    finish_segment(store, writer, ids)
