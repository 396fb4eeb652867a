"""Writing an index (the writer holds the lock): the journal merged into a new segment, the commit
protocol, and removing what interrupted commits and old generations left behind.

Merging streams the journal: a first pass reads every shard's ids and metadata (small) to decide
what is kept (the latest shard holding a path wins); a second pass reads one shard's vectors at
a time, standardises them and writes them into the new segment's memory-mapped files.

Commit: files under names never used before (generation number and a random suffix), each
written to a temporary name, synced and renamed, their folder synced; then the generation file;
then CURRENT. A failure before CURRENT changes (a crash, a full disk) leaves the previous
generation committed and the journal in place: the next run merges it again, nothing is lost.

Fault injection, for the tests only: ``STYLESIM_FAULT=STEP:crash`` ends the process at a named
step (``os._exit``), ``STEP:enospc`` raises a full-disk error there.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np
import pandas as pd

from stylesim.descriptors.standardise import Standardiser, unit_rows
from stylesim.errors import StylesimError
from stylesim.index import ann, journal
from stylesim.index.agreement import collection_agreement
from stylesim.index.frames import with_columns_of
from stylesim.index.manifest import MANIFEST, Manifest, check_compatible, read_manifest
from stylesim.index.policy import RELATIVE, TYPICAL_CONTENT_SAMPLE
from stylesim.index.relative import (
    Neighbours,
    Vectors,
    collection_z,
    commit_rows,
    sample_ids,
    version_threshold,
)
from stylesim.index.searching import segment_candidates, top
from stylesim.index.segment import SEGMENTS, Segment, SegmentWriter, Template, fsync_path
from stylesim.index.spaces import space_names, style_weights

if TYPE_CHECKING:
    from stylesim.index.store import IndexStore

FAULT_ENV = "STYLESIM_FAULT"
log = logging.getLogger("stylesim.index")
GRACE_SECONDS = 60.0
FIT_SAMPLE = 50_000  # raw vectors the collection statistics are fitted on
VERSION_DEPTH = 2  # approximate candidates per neighbour re-scored by the version lookups


def fault(step: str) -> None:
    """Fault injection for the tests (module docstring); nothing unless STYLESIM_FAULT names ``step``."""
    name, _, kind = os.environ.get(FAULT_ENV, "").partition(":")
    if name != step:
        return
    if kind == "enospc":
        raise OSError(errno.ENOSPC, "No space left on device", step)
    os._exit(70)


def disk_full(root: Path, error: OSError) -> StylesimError:
    where = error.filename or root
    return StylesimError(
        f"{where}: the disk is full; nothing was committed (the index is as it was, and the journal keeps "
        "what was encoded): free some space and run the same command again"
    )


def create_or_check_manifest(root: Path, manifest: Manifest) -> Manifest:
    if (root / MANIFEST).exists():
        existing = read_manifest(root)
        check_compatible(existing, manifest, root)
        return existing
    write_atomically(root / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    return manifest


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


def unique_name(prefix: str, store: IndexStore, suffix: str) -> str:
    return f"{prefix}-{int(store.state['generation']) + 1:06d}-{uuid.uuid4().hex[:8]}{suffix}"


def new_segment(store: IndexStore, ids: np.ndarray) -> SegmentWriter:
    """A writer for a new segment of the items ``ids`` (ascending), under a name never used."""
    dims = {n: d.dim for n, d in store.descriptors.items()}
    return SegmentWriter(store.root / SEGMENTS, unique_name("seg", store, ""), ids, dims)


# ------------------------------------------------------------------------------- merging
def kept_rows(store: IndexStore, shards: list[Path]) -> tuple[list[np.ndarray], pd.DataFrame]:
    """Per shard, which of its rows are merged (ids not merged before a crash, the latest shard
    holding a path), and the kept metadata rows with their shard and row number. An id below
    the committed ``next_id`` was merged by a commit that crashed before clearing the journal,
    even when its item has since been removed and compacted away."""
    present = store.ids()
    frames = []
    for number, path in enumerate(shards):
        try:
            ids, rows = journal.read_meta(path)
        except (OSError, ValueError, KeyError) as err:
            raise StylesimError(
                f"{path}: unreadable pending batch ({err}); delete it and run again"
            ) from None
        fresh = ~np.isin(ids, present) & (ids >= store.merged_below)
        frames.append(rows.assign(id=ids, _shard=number, _row=np.arange(len(ids)))[fresh])
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(rows):
        rows = rows[(rows["_shard"] == rows.groupby("path")["_shard"].transform("max")).to_numpy()]
    keep = [rows["_row"][rows["_shard"] == n].to_numpy() for n in range(len(shards))] if len(rows) else []
    return keep, rows.sort_values("id").reset_index(drop=True) if len(rows) else rows


def fit_statistics(store: IndexStore, shards: list[Path], keep: list[np.ndarray], total: int) -> None:
    """First fit of the collection standardisation, on up to FIT_SAMPLE kept raw vectors."""
    sample: dict[str, list[np.ndarray]] = {n: [] for n in store.standardised()}
    taken = 0
    for path, rows in zip(shards, keep, strict=True):
        if taken >= FIT_SAMPLE or not len(rows):
            continue
        vectors = journal.read_vectors(path)
        for name, parts in sample.items():
            parts.append(vectors[name][rows[: FIT_SAMPLE - taken]])
        taken += min(len(rows), FIT_SAMPLE - taken)
    for name, parts in sample.items():
        d = store.descriptors[name]
        stats = Standardiser.fit(np.concatenate(parts), d.blocks(), d.collection_norm)
        stats.count = total
        store.stats[name] = stats
    store.pending["stats"] = True


def merge_pending(store: IndexStore) -> int:
    """The journal as one new segment (module docstring); returns the items added."""
    merged = set(store.pending["shards"])  # this writer's earlier merges: their items may be removed since
    shards = [path for path in journal.pending_shards(store.root) if path not in merged]
    store.pending["shards"] += shards
    keep, rows = kept_rows(store, shards)
    if not len(rows):
        return 0
    replaced = store.items.index[store.items["path"].isin(set(rows["path"]))].to_numpy()
    store.remove(replaced)
    if not store.stats and store.standardised():
        fit_statistics(store, shards, keep, len(rows) + len(store))
    ids = rows["id"].to_numpy(np.int64)
    log.info("merging %d encoded items from %d journal shards into a new segment", len(ids), len(shards))
    writer = new_segment(store, ids)
    norms = write_vectors(store, writer, shards, keep, rows)
    frame = rows.drop(columns=["_shard", "_row"]).assign(**norms)
    writer.items(with_columns_of(frame, store.item_dtypes()))
    finish_segment(store, writer, ids)
    store.state["next_id"] = max(int(store.state["next_id"]), int(ids.max()) + 1)
    return len(ids)


def write_vectors(
    store: IndexStore, writer: SegmentWriter, shards: list[Path], keep: list[np.ndarray], rows: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Standardise each shard's kept vectors into the writer; returns the norms per item."""
    norms = {f"norm_{n}": np.zeros(len(rows), np.float32) for n in store.stats}
    for number, (path, kept) in enumerate(zip(shards, keep, strict=True)):
        if not len(kept):
            continue
        raw = journal.read_vectors(path)
        positions = np.searchsorted(rows["id"].to_numpy(), journal.read_meta(path)[0][kept])
        unit: dict[str, np.ndarray] = {}
        for name in store.descriptors:
            if name in store.stats:
                unit[name], norms[f"norm_{name}"][positions] = store.stats[name].apply(raw[name][kept])
            else:
                unit[name] = unit_rows(raw[name][kept])
        writer.put(positions, unit)
        del number
    return norms


def approximate_spaces(
    store: IndexStore, writer: SegmentWriter, spaces: list[str], reuse: bool = True
) -> None:
    """The writer's approximate indexes of ``spaces`` with the store's settings, trained as the
    largest committed segment's where ``reuse`` (its vectors standardised the same way)."""
    writer.approximate(
        spaces,
        style_weights(store.descriptors, store.fusion),
        store.state.get("index_type", "auto"),
        store.state.get("memory"),
        trained_like(store) if reuse else None,
    )


def trained_like(store: IndexStore) -> Template:
    """For a space, a factory and a row count: the approximate index of the store's largest
    segment of at least that many rows, emptied (``ann.emptied``), when its factory differs from
    the wanted one at most in its number of lists. A segment added to a large collection so skips
    training PCA and k-means on its own few items, and its lists are the collection's."""

    def template(space: str, factory: str, rows: int) -> tuple[str, faiss.Index] | None:
        larger = [s for s in store.segments if len(s) >= rows and space in s.meta.get("spaces", {})]
        if not larger:
            return None
        largest = max(larger, key=len)
        known = str(largest.meta["spaces"][space]["factory"])
        if not ann.same_family(known, factory):
            return None
        index = ann.emptied(ann.load(largest.folder / f"ann-{space}.faiss"))
        return (known, index) if index is not None else None

    return template


def finish_segment(store: IndexStore, writer: SegmentWriter, ids: np.ndarray) -> None:
    """Approximate indexes, relative vectors (their version lookups use those indexes), the
    relative space's index, seal; the segment joins the store (uncommitted)."""
    weights = style_weights(store.descriptors, store.fusion)
    spaces = space_names(store.descriptors, store.fusion)
    approximate_spaces(store, writer, [s for s in spaces if s != RELATIVE])
    if RELATIVE in spaces:
        readable = writer.readable()
        if store.state.get("version_threshold") is None:
            every = np.concatenate([store.ids(), ids])
            sample = vectors_with(store, readable, "content", sample_ids(every))
            store.state["version_threshold"] = version_threshold(sample, collection_z(len(every)))
            store.pending["stats"] = True
        log.info(
            "relative style vectors of %d new items and of the older items they are versions of", len(ids)
        )
        relative_ids, relative = commit_rows(
            ids, store.ids(), neighbours_with(store, readable), vectors_reader(store, readable), weights,
            store.version_threshold(),
        )  # fmt: skip
        writer.relative(relative_ids, relative)
        approximate_spaces(store, writer, [RELATIVE])
    fault("segment-sealing")
    segment = writer.seal()
    store.segments.append(segment)
    store.pending["segments"].append(segment.name)
    store.pending["items"] = True
    store.state["items"] = int(store.state["items"]) + len(ids)
    store.__dict__.pop("items", None)


def vectors_with(store: IndexStore, new: Segment, name: str, ids: np.ndarray) -> np.ndarray:
    """Vectors of ids held by the store or by the new (unsealed) segment."""
    ids = np.asarray(ids, np.int64)
    rows, in_new = new.positions(ids)
    out = np.zeros((len(ids), store.descriptors[name].dim), np.float32)
    if in_new.any():
        out[in_new] = new.vectors(name, rows[in_new])
    if (~in_new).any():
        out[~in_new] = store.vectors_of(name, ids[~in_new])
    return out


def vectors_reader(store: IndexStore, new: Segment) -> Vectors:
    """``vectors_with`` over the store and the new segment, as ``index.relative`` calls it."""
    return lambda name, ids: vectors_with(store, new, name, ids)


def neighbours_with(store: IndexStore, new: Segment) -> Neighbours:
    """Content neighbours (exact scores) over the store and the new segment. They serve the
    version lookups, and versions are near-duplicates that an approximate index ranks first:
    VERSION_DEPTH x k candidates per segment are re-scored, not ``ann.candidates_for(k)``."""

    def search(content: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        old_scores, old_ids = store.nearest("content", content, k, VERSION_DEPTH * k)
        q = np.asarray(content, np.float32)
        new_scores, new_ids = segment_candidates(new, "content", q, min(k, len(new)), {}, VERSION_DEPTH * k)
        return top(
            np.concatenate([old_scores, new_scores], axis=1), np.concatenate([old_ids, new_ids], axis=1), k
        )

    return search


# ------------------------------------------------------------------------------- committing
def write_file(store: IndexStore, prefix: str, suffix: str, write: Any) -> str:
    """A new file under a unique name (``write`` fills the temporary path), synced; its name."""
    name = unique_name(prefix, store, suffix)
    tmp = store.root / (name + ".tmp")
    write(tmp)
    fsync_path(tmp)
    os.replace(tmp, store.root / name)
    return name


def commit(store: IndexStore) -> None:
    """Make the writer's state the committed generation (module docstring)."""
    from stylesim.index.store import fresh_pending

    fault("before-files")
    if store.pending["items"] or "style_agreement" not in store.state:  # not on a plain merge
        sample = sample_ids(store.ids(), TYPICAL_CONTENT_SAMPLE)  # the content discount's sample
        store.state["style_agreement"] = collection_agreement(store, sample)
    files = dict(store.files)
    if store.pending["deleted"]:
        files["deleted"] = write_file(store, "deleted", ".npy", lambda p: save_array(p, store.deleted))
    if store.pending["stats"]:
        files["stats"] = write_file(store, "stats", ".npz", lambda p: save_stats(store, p))
    if store.pending["skipped"]:
        files["skipped"] = write_file(
            store, "skipped", ".parquet", lambda p: store.skipped.to_parquet(p, index=False)
        )
    fsync_path(store.root)
    fault("files-written")
    publish(store, files)
    for shard in store.pending["shards"]:
        Path(shard).unlink(missing_ok=True)
    store.pending = fresh_pending()
    remove_unreferenced(store)


def publish(store: IndexStore, files: dict[str, Any]) -> None:
    """Write the generation file, then switch CURRENT to it."""
    from stylesim.index.store import CURRENT

    state = dict(store.state, generation=int(store.state["generation"]) + 1, updated=time.time())
    generation = {
        "format": 2,
        "state": state,
        "files": files,
        "segments": [s.name for s in store.segments],
        "previous": store.generation_file,
    }
    name = unique_name("gen", store, ".json")
    write_atomically(store.root / name, (json.dumps(generation, indent=1) + "\n").encode())
    fault("generation-written")
    write_atomically(store.root / CURRENT, (name + "\n").encode())
    fault("current-written")
    store.state, store.files, store.generation_file = state, files, name


def save_array(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, array)


def save_stats(store: IndexStore, path: Path) -> None:
    arrays = {f"{n}.{k}": v for n, s in store.stats.items() for k, v in s.to_arrays().items()}
    if store.state.get("version_threshold") is not None:
        arrays["version_threshold"] = np.array(store.state["version_threshold"])
    with open(path, "wb") as f:
        np.savez(f, allow_pickle=False, **arrays)


# ------------------------------------------------------------------------------- cleaning up
def referenced(store: IndexStore) -> set[str] | None:
    """Files the committed and the previous generation name (the committed one's also as this
    writer holds them); None when a generation file cannot be read: then nothing is known safe
    to delete."""
    names: set[str] = {v for v in store.files.values() if v} | {s.name for s in store.segments}
    for generation in filter(None, [store.generation_file, previous_of(store)]):
        try:
            data = json.loads((store.root / generation).read_text())
        except (OSError, ValueError):
            return None
        names |= {generation, *[v for v in data["files"].values() if v], *data["segments"]}
    return names


def previous_of(store: IndexStore) -> str | None:
    if not store.generation_file:
        return None
    try:
        previous = json.loads((store.root / store.generation_file).read_text()).get("previous")
        return str(previous) if previous else None
    except (OSError, ValueError):
        return None


def candidates_for_removal(store: IndexStore) -> Iterable[Path]:
    patterns = ("gen-*.json", "deleted-*.npy", "stats-*.npz", "skipped-*.parquet", "*.tmp")
    yield from (p for pattern in patterns for p in store.root.glob(pattern))
    yield from (store.root / SEGMENTS).glob("*") if (store.root / SEGMENTS).is_dir() else ()


def remove_unreferenced(store: IndexStore) -> None:
    """Delete files no generation since the previous one names, once older than the grace
    period (GRACE_SECONDS; $STYLESIM_GRACE_SECONDS overrides it, for the tests)."""
    grace = float(os.environ.get("STYLESIM_GRACE_SECONDS", GRACE_SECONDS))
    named = referenced(store)
    if named is None:
        log.warning(
            "%s: a generation file could not be read; old files are left for the next commit", store.root
        )
        return
    keep = named | set(store.pending["segments"])
    now = time.time()
    for path in candidates_for_removal(store):
        if path.name in keep or now - path.stat().st_mtime < grace:
            continue
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def remove_leftovers(store: IndexStore) -> None:
    """What interrupted commits left (temporary files and folders), and unreferenced old files."""
    for path in list(store.root.glob("*.tmp")) + list((store.root / SEGMENTS).glob(".*.tmp")):
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    remove_unreferenced(store)
