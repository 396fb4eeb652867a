"""An index folder: immutable segments, a deletion list, and the generation that names them.

    manifest.json                  how vectors are made (immutable after creation)
    CURRENT                        the committed generation's file name
    gen-000007-3f2a9c1e.json       a committed state: its segments (oldest first), the files of its
                                   deletions, statistics and skipped files, counts, next id
    segments/seg-*/                immutable segments (``index.segment``)
    deleted-*.npy                  ids removed since their segments were written
    stats-*.npz                    collection standardisation per descriptor, version threshold
    skipped-*.parquet              files that could not be indexed, with the reason
    pending/shard-*.npz            encoded batches of an unfinished run (merged by the next writer)
    lock                           held (flock) by the one writer

A commit writes only what changed (new segments, the deletion list, statistics or skips when they
changed, the generation file) under names that are never reused, syncs them and their folders,
then replaces CURRENT (``index.writing``). A crash at any step leaves CURRENT naming a complete
generation; what the failed commit wrote is unreferenced and removed by the next writer. Files
stop being referenced only when a newer generation has been committed, and are deleted a grace
period later, so a reader that read CURRENT just before a commit still finds what it names; a
reader that fails to read a generation anyway (any error: the files of an old generation may be
gone) reads CURRENT again.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from collections.abc import Callable
from functools import cached_property, wraps
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from stylesim.collection.walk import is_under
from stylesim.descriptors import Descriptor, build_descriptors
from stylesim.descriptors.standardise import Standardiser, unit_rows
from stylesim.errors import IndexLockedError, StylesimError
from stylesim.index import journal
from stylesim.index.frames import ITEM_DTYPES, SKIP_DTYPES, empty_frame, with_columns_of
from stylesim.index.manifest import Manifest, read_manifest
from stylesim.index.policy import RELATIVE, TYPICAL_CONTENT_SAMPLE
from stylesim.index.relative import query_relative, sample_ids
from stylesim.index.segment import SEGMENTS, Segment
from stylesim.index.spaces import STYLE, stacked, style_weights

CURRENT = "CURRENT"
LOCK = "lock"
OPEN_ATTEMPTS = 6

# Writer locks this process holds. A forked child (a decoding worker) must not keep one: it
# would outlive a killed writer and refuse every later run; children close them at once.
_HELD_LOCKS: set[int] = set()


def _close_locks_in_child() -> None:
    for fd in list(_HELD_LOCKS):
        os.close(fd)
    _HELD_LOCKS.clear()


os.register_at_fork(after_in_child=_close_locks_in_child)


P = ParamSpec("P")
R = TypeVar("R")


def full_disk_reported(
    method: Callable[Concatenate[IndexStore, P], R],
) -> Callable[Concatenate[IndexStore, P], R]:
    """A writing method whose full disk is reported in our words (``writing.disk_full``): a
    write that fails for space leaves the committed index as it was, whichever step it was."""

    @wraps(method)
    def reported(store: IndexStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(store, *args, **kwargs)
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
            from stylesim.index.writing import disk_full

            raise disk_full(store.root, error) from None

    return reported


def fresh_pending() -> dict[str, Any]:
    """What a writer has changed since the last commit: nothing yet (``index.writing.commit``)."""
    return {
        "shards": [],  # journal shards merged, removed after the commit
        "segments": [],  # segments written
        "stats": False,
        "skipped": False,
        "deleted": False,
        "items": False,  # items added, removed or re-standardised: the agreement is measured again
    }


class IndexStore:
    """The committed state of one index (read-only), or the state a writer is building."""

    def __init__(self, root: Path, manifest: Manifest, writable: bool = False) -> None:
        self.root, self.manifest, self.writable = root, manifest, writable
        self.descriptors: dict[str, Descriptor] = build_descriptors(manifest["descriptors"])
        self.fusion: dict[str, float] = manifest["style_fusion"]  # the --by style weights
        self.segments: list[Segment] = []
        self.deleted = np.zeros(0, np.int64)
        self.stats: dict[str, Standardiser] = {}
        self.state: dict[str, Any] = {
            "generation": 0,
            "next_id": 0,
            "created": time.time(),
            "updated": None,
            "items": 0,
        }
        self.files: dict[str, str | None] = {"deleted": None, "stats": None, "skipped": None}
        self.generation_file: str | None = None
        self._skipped: pd.DataFrame | None = None
        self._content_sample: tuple[tuple[int, int], np.ndarray] | None = None  # (items, next id)
        self._lock_fd: int | None = None
        self.merged_below = 0  # ids below the committed next_id at opening (open_for_writing)
        self.pending = fresh_pending()

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, root: str | Path) -> IndexStore:
        """The committed state, read-only (no lock: a writer may commit meanwhile)."""
        root = Path(root)
        manifest = read_manifest(root)
        for attempt in range(OPEN_ATTEMPTS):
            store = cls(root, manifest)
            try:
                store._load_committed()
                return store
            except StylesimError:
                raise
            except Exception:  # noqa: BLE001 - any failure to read a generation: it may have been replaced
                if attempt == OPEN_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    @classmethod
    def open_for_writing(cls, root: str | Path, manifest: Manifest | None = None) -> IndexStore:
        """Create or open ``root`` for writing: take the writer lock, refuse other settings
        (``manifest`` None: an existing index as it is), load the committed state and remove
        what interrupted commits left behind."""
        if manifest is None:
            read_manifest(Path(root), allow_legacy=True)  # an index must be there
        from stylesim.index import legacy, writing

        root = Path(root)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StylesimError(f"{root}: cannot create the index folder ({err.strerror})") from None
        lock_fd = cls._acquire_lock(root)
        try:
            legacy.upgrade_if_needed(root)
            settings = (
                read_manifest(root) if manifest is None else writing.create_or_check_manifest(root, manifest)
            )
            store = cls(root, settings, writable=True)
            store._lock_fd = lock_fd
            store._load_committed()
            store.merged_below = int(store.state["next_id"])  # journalled ids below it were merged
            writing.remove_leftovers(store)
        except BaseException:
            _HELD_LOCKS.discard(lock_fd)
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

    def _load_committed(self) -> None:
        pointer = self.root / CURRENT
        if not pointer.exists():
            return
        name = pointer.read_text().strip()
        generation = json.loads((self.root / name).read_text())
        self.generation_file = name
        self.state = generation["state"]
        self.files = generation["files"]
        self.segments = [Segment(self.root / SEGMENTS / s) for s in generation["segments"]]
        if deleted := self.files.get("deleted"):
            self.deleted = np.load(self.root / deleted)
        if stats := self.files.get("stats"):
            self._load_stats(self.root / stats)

    def _load_stats(self, path: Path) -> None:
        with np.load(path) as arrays:
            for name in self.standardised():
                if f"{name}.mean" in arrays.files:
                    self.stats[name] = Standardiser.from_arrays(
                        {k: arrays[f"{name}.{k}"] for k in ("mean", "scale", "count")}
                    )
            if "version_threshold" in arrays.files:
                self.state["version_threshold"] = float(arrays["version_threshold"])

    def standardised(self) -> list[str]:
        return [n for n, d in self.descriptors.items() if d.collection_norm != "none"]

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return int(self.state.get("items", 0))

    def live(self, segment: Segment) -> np.ndarray:
        """Which of a segment's items are not deleted."""
        return ~np.isin(segment.ids, self.deleted) if len(self.deleted) else np.ones(len(segment), bool)

    def ids(self) -> np.ndarray:
        """Every live item id, ascending."""
        parts = [s.ids[self.live(s)] for s in self.segments]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

    @cached_property
    def items(self) -> pd.DataFrame:
        """Every live item's metadata, indexed by id (read on first use: searching does not
        need it, see ``rows``)."""
        frames = [s.table.to_pandas()[self.live(s)] for s in self.segments if len(s)]
        if not frames:
            return empty_frame(self.item_dtypes())
        items = with_columns_of(pd.concat(frames, ignore_index=True), self.item_dtypes())
        items = items.set_index("id", drop=False)
        items.index.name = None
        return items

    def item_dtypes(self) -> dict[str, str]:
        return ITEM_DTYPES | {f"norm_{n}": "float32" for n in self.standardised()}

    def locate(self, ids: np.ndarray) -> list[tuple[Segment, np.ndarray, np.ndarray]]:
        """(segment, which of ``ids`` it holds, their rows in it) for every segment holding some."""
        ids = np.asarray(ids, np.int64)
        out = []
        for segment in self.segments:
            rows, found = segment.positions(ids)
            if found.any():
                out.append((segment, found, rows[found]))
        return out

    def rows(self, ids: np.ndarray) -> pd.DataFrame:
        """Metadata of items by id (in ``ids`` order), read from the segments' memory maps."""
        ids = np.asarray(ids, np.int64)
        parts, order = [], []
        for segment, found, rows in self.locate(ids):
            parts.append(segment.rows(rows))
            order.append(np.flatnonzero(found))
        if not parts:
            return empty_frame(self.item_dtypes()).set_index("id", drop=False)
        if len(parts) > 1:
            in_order = np.argsort(np.concatenate(order), kind="stable")
            parts = [pd.concat(parts, ignore_index=True).iloc[in_order]]
        frame = with_columns_of(parts[0], self.item_dtypes()).set_index("id", drop=False)
        frame.index.name = None
        return frame

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Which of ``ids`` are live items."""
        ids = np.asarray(ids, np.int64)
        out = np.zeros(len(ids), bool)
        for _, found, _ in self.locate(ids):
            out |= found
        return out & ~np.isin(ids, self.deleted)

    def column(self, name: str) -> pa.ChunkedArray:
        """One metadata column of every live item (segment order), scanned from the memory maps
        without loading the rest."""
        parts = [s.table.column(name).filter(pa.array(self.live(s))) for s in self.segments if len(s)]
        return pa.chunked_array(parts) if parts else pa.chunked_array([], pa.string())

    def matching(self, column: str, values: list[Any]) -> np.ndarray:
        """Ids (ascending) of the live items whose ``column`` holds one of ``values``."""
        out = []
        for segment in self.segments:
            if not len(segment):
                continue
            data = segment.table.column(column)
            hit = pc.is_in(data, value_set=pa.array(values, data.type)).to_numpy(zero_copy_only=False)
            out.append(segment.ids[np.asarray(hit, bool) & self.live(segment)])
        return np.sort(np.concatenate(out)) if out else np.zeros(0, np.int64)

    def vectors_of(self, name: str, ids: np.ndarray) -> np.ndarray:
        """float32 unit vectors of a descriptor, rows in ``ids`` order (each id must exist)."""
        ids = np.asarray(ids, np.int64)
        out = np.zeros((len(ids), self.descriptors[name].dim), np.float32)
        for segment, found, rows in self.locate(ids):
            out[found] = segment.vectors(name, rows)
        return out

    def scores_of(self, name: str, ids: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Inner products of one query vector (or each row of a matrix of them) with items' unit
        vectors of a descriptor, in ``ids`` order (each id must exist)."""
        ids = np.asarray(ids, np.int64)
        out = np.zeros((*np.shape(query)[:-1], len(ids)), np.float32)
        for segment, found, rows in self.locate(ids):
            out[..., found] = segment.scores(name, rows, query)
        return out

    def style_of(self, ids: np.ndarray) -> np.ndarray:
        """Stacked style vectors (``index.spaces``) of items."""
        weights = style_weights(self.descriptors, self.fusion)
        return stacked({n: self.vectors_of(n, ids) for n in weights}, weights)

    def relative_of(self, ids: np.ndarray) -> np.ndarray:
        """Relative style vectors of items: the newest segment's where one holds it, the stacked
        style vector otherwise (an item without versions)."""
        ids = np.asarray(ids, np.int64)
        out = self.style_of(ids)
        done = np.zeros(len(ids), bool)
        for segment in reversed(self.segments):
            rows, found = segment.relative_rows(ids)
            fresh = found & ~done
            if fresh.any():
                out[fresh] = segment.vectors(RELATIVE, rows[fresh])
                done |= fresh
        return out

    def all_vectors(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids, float32 unit vectors) of every live item, ascending ids (loads them all)."""
        ids = self.ids()
        return ids, self.vectors_of(name, ids)

    def nearest(
        self, space: str, queries: np.ndarray, k: int, depth: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (exact scores, ids) per query row in a search space over the live items:
        ``depth`` candidates from each segment's approximate index (exact search for small
        segments), re-scored exactly."""
        from stylesim.index.searching import nearest

        return nearest(self, space, queries, k, depth)

    def candidates(self, space: str, queries: np.ndarray, depth: int) -> list[np.ndarray]:
        """Per query row, ids of up to ``depth`` near live items per segment, not re-scored."""
        from stylesim.index.searching import candidates

        return candidates(self, space, queries, depth)

    def space_vectors(self, space: str, ids: np.ndarray) -> np.ndarray:
        """Exact vectors of items in a search space."""
        if space == STYLE:
            return self.style_of(ids)
        if space == RELATIVE:
            return self.relative_of(ids)
        return self.vectors_of(space, ids)

    def relative_query(self, style: np.ndarray, content: np.ndarray, threshold: float) -> np.ndarray:
        """Relative style vectors of query rows, their versions looked up in the index
        (``index.relative.query_relative``)."""
        return query_relative(self, style, content, threshold)

    @property
    def skipped(self) -> pd.DataFrame:
        if self._skipped is None:
            name = self.files.get("skipped")
            self._skipped = pd.read_parquet(self.root / name) if name else empty_frame(SKIP_DTYPES)
        return self._skipped

    def prepare_queries(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Query vectors as stored vectors are made: standardised with the collection's
        statistics where the descriptor asks for it, then unit length."""
        return {
            name: self.stats[name].apply(x)[0] if name in self.stats else unit_rows(x)
            for name, x in raw.items()
        }

    def disk_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.root.rglob("*") if f.is_file())

    def version_threshold(self) -> float:
        value = self.state.get("version_threshold")
        return float(value) if value is not None else float("inf")

    def style_agreement(self) -> float | None:
        value = self.state.get("style_agreement")
        return float(value) if value is not None else None

    def content_sample(self) -> np.ndarray:
        """``SearchBackend.content_sample``, read once while the collection is unchanged."""
        key = (len(self), int(self.state.get("next_id", 0)))
        if self._content_sample is None or self._content_sample[0] != key:
            sample = sample_ids(self.ids(), TYPICAL_CONTENT_SAMPLE)
            self._content_sample = (key, self.vectors_of("content", sample))
        return self._content_sample[1]

    # ------------------------------------------------------------------ writing
    def _require_writable(self) -> None:
        if not self.writable:
            raise RuntimeError("index opened read-only")

    def allocate_ids(self, n: int) -> np.ndarray:
        start = int(self.state["next_id"])
        self.state["next_id"] = start + n
        return np.arange(start, start + n, dtype=np.int64)

    @full_disk_reported
    def write_pending(self, ids: np.ndarray, raw: dict[str, np.ndarray], rows: list[dict[str, Any]]) -> None:
        """Journal one encoded batch (durable at once; merged at the next commit)."""
        self._require_writable()
        journal.write_shard(self.root, ids, raw, rows)

    @full_disk_reported
    def merge_pending(self) -> int:
        """Merge journalled batches into a new segment (streamed: one shard in memory at a
        time). Returns the number of items added; ``commit`` makes them durable."""
        from stylesim.index import writing

        self._require_writable()
        return writing.merge_pending(self)

    def remove(self, ids: np.ndarray) -> int:
        """Mark items deleted (the segments holding them are compacted later)."""
        ids = np.asarray(ids, np.int64)
        fresh = np.setdiff1d(ids, self.deleted)
        if len(fresh) == 0:
            return 0
        self.deleted = np.union1d(self.deleted, fresh)
        self.pending["deleted"] = self.pending["items"] = True
        self.state["items"] = int(self.state["items"]) - len(fresh)
        self.__dict__.pop("items", None)
        return len(fresh)

    def set_skipped(self, skipped: pd.DataFrame, roots: list[str]) -> None:
        """Replace the skip records under ``roots`` (this run's inputs) by ``skipped``."""
        old = self.skipped
        if len(old):
            old = old[~old["path"].map(lambda p: is_under(p, roots)).astype(bool)]
        frames = [f for f in (old, skipped.astype(SKIP_DTYPES)) if len(f)]
        updated = pd.concat(frames, ignore_index=True) if frames else empty_frame(SKIP_DTYPES)
        if not updated.equals(self.skipped):
            self._skipped, self.pending["skipped"] = updated, True

    @full_disk_reported
    def refit_if_needed(self, force: bool = False) -> list[str]:
        """Re-fit the collection standardisation when the collection has grown or shrunk by
        REFIT_FACTOR since the last fit (``index.compaction``). Returns the refitted descriptors."""
        from stylesim.index import compaction

        self._require_writable()
        return compaction.refit_if_needed(self, force)

    @full_disk_reported
    def compact(self, everything: bool = False) -> int:
        """Merge segments (all of them, or as the automatic policy says); returns how many
        segments were merged."""
        from stylesim.index import compaction

        self._require_writable()
        return compaction.compact(self, everything)

    @full_disk_reported
    def commit(self) -> None:
        """Make what this writer did durable and visible (``index.writing.commit``)."""
        from stylesim.index import writing

        self._require_writable()
        writing.commit(self)
