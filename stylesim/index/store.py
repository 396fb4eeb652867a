"""An index folder on disk and in memory.

Layout of ``root`` (see README, "Index format"):

    manifest.json          how vectors are made (immutable after creation)
    CURRENT                name of the committed generation, e.g. ``gen-000007``
    gen-000007/            one committed state, written whole then renamed into place:
        <descriptor>.faiss   FAISS IndexIDMap2 per descriptor (ids = item ids)
        items.parquet        one row per item (path, size, mtime_ns, sha256, width, ...)
        skipped.parquet      files that could not be indexed, with the reason
        stats.npz            collection standardisation per descriptor
        state.json           next id, counts, timestamps
    pending/shard-*.npz    encoded batches of an unfinished run (merged by the next writer)
    lock                   held (flock) by the one writer

A commit writes a new generation folder and then replaces ``CURRENT`` (both by rename), so a
killed writer leaves the last commit intact. A reader that opens the index while a commit
deletes the previous generation can find its files gone: it retries from ``CURRENT``.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pandas as pd

from stylesim.collection.walk import is_under
from stylesim.descriptors import Descriptor, build_descriptors
from stylesim.descriptors.standardise import Standardiser, unit_rows
from stylesim.errors import IndexLockedError, StylesimError
from stylesim.index import codec, journal
from stylesim.index.manifest import MANIFEST, check_compatible, read_manifest

CURRENT = "CURRENT"
LOCK = "lock"
# Refit the collection standardisation when the collection has grown or shrunk by this factor
# since the last fit (and always on the first commit).
REFIT_FACTOR = 1.5

ITEM_DTYPES: dict[str, str] = {
    "id": "int64",
    "path": "string",
    "kind": "string",  # "image" or "frame" (of a video)
    "size": "int64",
    "mtime_ns": "int64",
    "sha256": "string",
    "width": "int32",
    "height": "int32",
    "video": "string",  # for frames: the video file
    "time": "float64",  # for frames: seconds from the start
    "frame": "Int64",  # for frames: frame number
    "duration": "float64",  # for frames: the video's duration (s)
    "fps": "float64",  # for frames: the video's average frame rate
    "sampling": "string",  # for frames: how the video was sampled (re-sampled when it changes)
}
SKIP_DTYPES: dict[str, str] = {"path": "string", "reason": "string", "size": "Int64", "mtime_ns": "Int64"}


# Writer locks this process holds. A forked child (a decoding worker) must not keep one: it
# would outlive a killed writer and refuse every later run; children close them at once.
_HELD_LOCKS: set[int] = set()


def _close_locks_in_child() -> None:
    for fd in list(_HELD_LOCKS):
        os.close(fd)
    _HELD_LOCKS.clear()


os.register_at_fork(after_in_child=_close_locks_in_child)


def with_columns_of(frame: pd.DataFrame, template: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with exactly ``template``'s columns and dtypes: columns it lacks (added to the
    format since it was written) are filled with missing values."""
    frame = frame.copy()
    for column, dtype in template.dtypes.items():
        if column not in frame:
            frame[column] = pd.Series([None] * len(frame), dtype="object", index=frame.index).astype(dtype)
    return frame[list(template.columns)].astype(template.dtypes.to_dict())


def empty_frame(dtypes: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class IndexStore:
    """Items, their vectors per descriptor, and the collection statistics of one index."""

    def __init__(self, root: Path, manifest: dict[str, Any], writable: bool = False) -> None:
        self.root = root
        self.manifest = manifest
        self.writable = writable
        self.descriptors: dict[str, Descriptor] = build_descriptors(manifest["descriptors"])
        self.vectors: dict[str, faiss.IndexIDMap2] = {
            n: codec.new_index(d.dim) for n, d in self.descriptors.items()
        }
        self.stats: dict[str, Standardiser] = {}
        self.items = empty_frame(ITEM_DTYPES | {f"norm_{n}": "float32" for n in self._standardised()})
        self.skipped = empty_frame(SKIP_DTYPES)
        self.state: dict[str, Any] = {"generation": 0, "next_id": 0, "created": time.time(), "updated": None}
        self._lock_fd: int | None = None
        self._merged_shards: list[Path] = []

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, root: str | Path) -> IndexStore:
        """Open the committed state for reading (no lock taken)."""
        root = Path(root)
        store = cls(root, read_manifest(root))
        for attempt in range(3):  # a writer may replace the generation while we read it
            try:
                store._load_committed()
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
                time.sleep(0.2)
        return store

    @classmethod
    def open_for_writing(cls, root: str | Path, manifest: dict[str, Any]) -> IndexStore:
        """Create or open ``root`` for writing: take the writer lock, refuse other settings,
        load the committed state and merge batches left by an interrupted run."""
        root = Path(root)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StylesimError(f"{root}: cannot create the index folder ({err.strerror})") from None
        lock_fd = cls._acquire_lock(root)
        try:
            if (root / MANIFEST).exists():
                existing = read_manifest(root)
                check_compatible(existing, manifest, root)
            else:
                tmp = root / (MANIFEST + ".tmp")
                tmp.write_text(json.dumps(manifest, indent=2) + "\n")
                os.replace(tmp, root / MANIFEST)
            store = cls(root, manifest, writable=True)
            store._lock_fd = lock_fd
            store._load_committed()
        except BaseException:
            os.close(lock_fd)
            raise
        return store

    @staticmethod
    def _acquire_lock(root: Path) -> int:
        fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if err.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise IndexLockedError(
                    f"{root}: another stylesim process (pid {holder}) is writing this index; "
                    "wait for it to finish"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        _HELD_LOCKS.add(fd)
        return fd

    def close(self) -> None:
        if self._lock_fd is not None:
            _HELD_LOCKS.discard(self._lock_fd)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> IndexStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _standardised(self) -> list[str]:
        return [n for n, d in self.descriptors.items() if d.collection_norm != "none"]

    def _load_committed(self) -> None:
        pointer = self.root / CURRENT
        if not pointer.exists():
            return
        gen = self.root / pointer.read_text().strip()
        state = json.loads((gen / "state.json").read_text())
        for name in self.descriptors:
            try:
                self.vectors[name] = faiss.read_index(str(gen / f"{name}.faiss"))  # type: ignore[assignment]  # an IndexIDMap2, as written
            except RuntimeError as err:
                raise StylesimError(
                    f"{gen / (name + '.faiss')}: unreadable FAISS index ({str(err).splitlines()[0]})"
                ) from None
        items = with_columns_of(pd.read_parquet(gen / "items.parquet"), self.items)
        self.items = items.set_index("id", drop=False)
        self.items.index.name = None
        self.skipped = pd.read_parquet(gen / "skipped.parquet")
        with np.load(gen / "stats.npz") as z:
            for name in self._standardised():
                if f"{name}.mean" in z.files:
                    self.stats[name] = Standardiser.from_arrays(
                        {k: z[f"{name}.{k}"] for k in ("mean", "scale", "count")}
                    )
        self.state = state

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self.items)

    def prepare_queries(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Query vectors as stored vectors are made: standardised with the collection's
        statistics where the descriptor asks for it, then unit length."""
        out = {}
        for name, x in raw.items():
            out[name] = self.stats[name].apply(x)[0] if name in self.stats else unit_rows(x)
        return out

    # ------------------------------------------------------------------ writing
    def allocate_ids(self, n: int) -> np.ndarray:
        start = int(self.state["next_id"])
        self.state["next_id"] = start + n
        return np.arange(start, start + n, dtype=np.int64)

    def write_pending(self, ids: np.ndarray, raw: dict[str, np.ndarray], rows: list[dict[str, Any]]) -> None:
        """Journal one encoded batch (durable at once; merged at the next commit)."""
        self._require_writable()
        journal.write_shard(self.root, ids, raw, rows)

    def merge_pending(self) -> int:
        """Merge journalled batches into memory (items replace earlier entries of the same
        path; ids already present were merged before a crash and are skipped). Returns the
        number of items added; call ``commit`` to make them durable."""
        self._require_writable()
        shards = journal.pending_shards(self.root)
        all_ids: list[np.ndarray] = []
        all_rows: list[pd.DataFrame] = []
        all_raw: dict[str, list[np.ndarray]] = {n: [] for n in self.descriptors}
        for number, path in enumerate(shards):
            try:
                ids, vectors, rows = journal.read_shard(path)
            except (OSError, ValueError, KeyError) as err:
                raise StylesimError(
                    f"{path}: unreadable pending batch ({err}); delete it and re-run"
                ) from None
            fresh = ~np.isin(ids, self.items.index.to_numpy())
            if not fresh.any():
                continue
            all_ids.append(ids[fresh])
            all_rows.append(rows.loc[fresh].assign(_shard=number))
            for name in self.descriptors:
                all_raw[name].append(vectors[name][fresh])
        self._merged_shards = shards
        if not all_ids:
            return 0
        ids = np.concatenate(all_ids)
        rows = pd.concat(all_rows, ignore_index=True)
        # The latest shard holding a path wins (the file changed between runs); a video's
        # frames are journalled together in one shard.
        keep = (rows["_shard"] == rows.groupby("path")["_shard"].transform("max")).to_numpy()
        ids, rows = ids[keep], rows[keep].drop(columns="_shard").reset_index(drop=True)
        raw = {name: np.concatenate(parts)[keep] for name, parts in all_raw.items()}
        replaced = self.items.index[self.items["path"].isin(set(rows["path"]))].to_numpy()
        self.remove(replaced)
        self._add(ids, raw, rows)
        self.state["next_id"] = max(int(self.state["next_id"]), int(ids.max()) + 1)
        return len(ids)

    def _add(self, ids: np.ndarray, raw: dict[str, np.ndarray], rows: pd.DataFrame) -> None:
        rows = rows.copy()
        for name, d in self.descriptors.items():
            x = np.asarray(raw[name], np.float32)
            if d.collection_norm != "none":
                if name not in self.stats:
                    self.stats[name] = Standardiser.fit(x, d.blocks(), d.collection_norm)
                unit, norms = self.stats[name].apply(x)
                rows[f"norm_{name}"] = norms
            else:
                unit = unit_rows(x)
            self.vectors[name].add_with_ids(np.ascontiguousarray(unit, dtype=np.float32), ids)
        rows["id"] = ids
        rows = with_columns_of(rows, self.items).set_index(pd.Index(ids))
        self.items = pd.concat([self.items, rows]) if len(self.items) else rows

    def remove(self, ids: np.ndarray) -> int:
        """Drop items (and their vectors) by id."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return 0
        for index in self.vectors.values():
            index.remove_ids(ids)  # type: ignore[arg-type]  # faiss's wrapper builds the id selector from the array
        self.items = self.items.drop(index=pd.Index(ids), errors="ignore")
        return len(ids)

    def refit_if_needed(self, force: bool = False) -> list[str]:
        """Re-fit the collection standardisation when the collection size moved by
        REFIT_FACTOR since the last fit: stored vectors are mapped back to raw statistics
        (x = mu + s * v * ||z||), refitted and re-added. Returns the refitted descriptors."""
        done = []
        n = len(self.items)
        for name, stats in list(self.stats.items()):
            if n == 0 or not (force or n >= REFIT_FACTOR * stats.count or n * REFIT_FACTOR <= stats.count):
                continue
            d = self.descriptors[name]
            ids, unit = codec.all_vectors(self.vectors[name])
            norms = self.items.loc[ids, f"norm_{name}"].to_numpy(np.float32)
            raw = stats.invert(unit, norms)
            new = Standardiser.fit(raw, d.blocks(), d.collection_norm)
            unit, norms = new.apply(raw)
            index = codec.new_index(d.dim)
            index.add_with_ids(unit, ids)
            self.vectors[name] = index
            self.items.loc[ids, f"norm_{name}"] = norms
            self.stats[name] = new
            done.append(name)
        return done

    def set_skipped(self, skipped: pd.DataFrame, roots: list[str]) -> None:
        """Replace the skip records under ``roots`` (this run's inputs) by ``skipped``."""
        old = self.skipped
        if len(old):
            under = old["path"].map(lambda p: is_under(p, roots))
            old = old[~under.astype(bool)]
        frames = [f for f in (old, skipped.astype(SKIP_DTYPES)) if len(f)]
        self.skipped = pd.concat(frames, ignore_index=True) if frames else empty_frame(SKIP_DTYPES)

    def commit(self) -> None:
        """Write a new generation and switch ``CURRENT`` to it (atomic), then delete merged
        journal shards and older generations."""
        self._require_writable()
        gen_no = int(self.state["generation"]) + 1
        name = f"gen-{gen_no:06d}"
        tmp = self.root / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for desc, index in self.vectors.items():
            faiss.write_index(index, str(tmp / f"{desc}.faiss"))
        items = self.items.reset_index(drop=True)
        items.to_parquet(tmp / "items.parquet", index=False)
        self.skipped.reset_index(drop=True).to_parquet(tmp / "skipped.parquet", index=False)
        arrays = {f"{n}.{k}": v for n, s in self.stats.items() for k, v in s.to_arrays().items()}
        np.savez(tmp / "stats.npz", allow_pickle=False, **arrays)
        state = dict(self.state, generation=gen_no, updated=time.time(), items=len(self.items))
        (tmp / "state.json").write_text(json.dumps(state, indent=2) + "\n")
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, self.root / name)
        pointer_tmp = self.root / (CURRENT + ".tmp")
        pointer_tmp.write_text(name + "\n")
        with open(pointer_tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(pointer_tmp, self.root / CURRENT)
        _fsync_dir(self.root)
        self.state = state
        for shard in self._merged_shards:
            shard.unlink(missing_ok=True)
        self._merged_shards = []
        for old in self.root.glob("gen-*"):
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)

    def _require_writable(self) -> None:
        if not self.writable:
            raise RuntimeError("index opened read-only")

    # ------------------------------------------------------------------ facts
    def disk_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.root.rglob("*") if f.is_file())
