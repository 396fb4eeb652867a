"""Segments: the immutable parts an index is made of (Lucene's segments, Qdrant's). A commit adds
segments and a deletion list; nothing in a segment is ever rewritten (``stylesim compact`` and the
automatic policy merge segments into new ones).

    segments/seg-<generation>-<random>/
        segment.json            counts, dimensions, and per search space the approximate index
                                with its tuned parameter and measured recall
        ids.npy                 item ids, ascending (int64)
        <descriptor>.npy        float16 unit vectors, one row per id (memory-mapped when read)
        items.arrow             the items' metadata, same row order (Arrow IPC, memory-mapped)
        relative_ids.npy        ids whose relative style vector this segment holds: its own items
        relative.npy            that have other versions, and older items whose versions changed
        ann-<space>.faiss       approximate index of a search space, for large segments only

Reading touches only what a search needs: a few rows of the vectors and metadata, or the
memory-mapped approximate index.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pandas as pd
import pyarrow as pa

from stylesim.index import ann
from stylesim.index.policy import RELATIVE
from stylesim.index.scoring import inner_products
from stylesim.index.spaces import STYLE, stacked

SEGMENTS = "segments"  # the folder of an index that holds them
META = "segment.json"
IDS = "ids.npy"
ITEMS = "items.arrow"
RELATIVE_IDS = "relative_ids.npy"
RELATIVE_VECTORS = "relative.npy"
CHUNK = 16_384  # rows converted to float32 at a time by exact search and rewrites
TABLE_CELLS = 2**25  # tuning scores queries x rows once when they fit (128 MB of float32)
Template = Callable[[str, str, int], "tuple[str, faiss.Index] | None"]  # (space, factory, rows) -> trained
log = logging.getLogger("stylesim.index")


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_for_random_reads(file: Path) -> Any:
    """``file`` open for reading, the kernel told not to read ahead of each read (a search's rows
    are scattered). Closed when the segment is dropped."""
    handle = open(file, "rb", buffering=0)  # noqa: SIM115 - lives as long as the segment
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_RANDOM)
    return handle


def read_fully(file: Any, into: memoryview, offset: int) -> None:
    """Fill ``into`` from ``file`` at ``offset``: a read returns at most about 2 GB on Linux, and
    may return less than asked at any time, so it is repeated until done."""
    done = 0
    while done < len(into):
        got = os.preadv(file.fileno(), [into[done:]], offset + done)
        if got == 0:
            raise OSError(f"{file.name}: shorter than its header says")
        done += got


class Segment:
    def __init__(self, folder: Path) -> None:
        self.folder, self.name = folder, folder.name
        self.meta: dict[str, Any] = json.loads((folder / META).read_text())
        self.ids: np.ndarray = np.load(folder / IDS)
        relative_ids = folder / RELATIVE_IDS
        self.relative_ids: np.ndarray = (
            np.load(relative_ids) if relative_ids.exists() else np.zeros(0, np.int64)
        )
        self._arrays: dict[str, np.ndarray] = {}
        self._files: dict[str, Any] = {}  # open files the rows of a search are read from
        self._ann: dict[str, faiss.Index | None] = {}
        if folder.name.startswith("."):
            return  # being written: its files change until sealed
        for name in [*self.meta["descriptors"], RELATIVE]:  # mapped now: they stay readable once
            self.array(name)  # a compaction has deleted the folder (a reader's open maps survive)
        _ = self.table
        for space in self.meta.get("spaces", {}):
            self.ann(space)

    def __len__(self) -> int:
        return len(self.ids)

    def array(self, name: str) -> np.ndarray:
        """The float16 vectors of a descriptor (or ``relative``), memory-mapped."""
        if name not in self._arrays:
            file = self.folder / (RELATIVE_VECTORS if name == RELATIVE else f"{name}.npy")
            self._arrays[name] = (
                np.load(file, mmap_mode="r") if file.exists() else np.zeros((0, 0), np.float16)
            )
            if file.exists() and hasattr(os, "preadv"):
                self._files[name] = open_for_random_reads(file)
        return self._arrays[name]

    def gather(self, name: str, rows: np.ndarray) -> np.ndarray:
        """float16 rows of a descriptor's vectors (``rows`` ascending), read with one ``preadv``
        per run of consecutive rows into process memory. A search reads a few scattered rows:
        through the memory map each would fault in its neighbourhood too (64 KB fault-around,
        plus read-around from disk on a cold cache), which the process's resident set and a cold
        start pay for; a read copies only the rows."""
        array, file = self.array(name), self._files.get(name)
        if file is None or not isinstance(array, np.memmap) or len(rows) == 0:
            return np.asarray(array[rows])
        out = np.empty((len(rows), array.shape[1]), array.dtype)
        row_bytes = array.shape[1] * array.itemsize
        buffer = memoryview(out.reshape(-1).view(np.uint8).data)
        starts = np.flatnonzero(np.diff(rows, prepend=-2) != 1)
        for start, stop in zip(starts.tolist(), [*starts[1:].tolist(), len(rows)], strict=True):
            read_fully(
                file,
                buffer[start * row_bytes : stop * row_bytes],
                array.offset + int(rows[start]) * row_bytes,
            )
        return out

    def rows_in_order(self, name: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(float16 vectors of ``rows`` read in ascending order, the order that sorts ``rows``)."""
        order = np.argsort(rows, kind="stable")
        unique, inverse = np.unique(rows[order], return_inverse=True)
        vectors = self.gather(name, unique)
        return (vectors if len(unique) == len(rows) else vectors[inverse]), order

    def positions(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row of each id, whether this segment holds it)."""
        return sorted_positions(self.ids, ids)

    def vectors(self, name: str, rows: np.ndarray) -> np.ndarray:
        """float32 rows of a descriptor's vectors, in ``rows`` order (``gather``)."""
        found, order = self.rows_in_order(name, rows)
        out = np.empty((len(rows), found.shape[1] if found.ndim == 2 else 0), np.float32)
        out[order] = found
        return out

    def scores(self, name: str, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Inner products of ``query`` (one vector, or one per row of a matrix) with rows of a
        descriptor's vectors (``index.scoring``), in ``rows`` order (``gather``)."""
        found, order = self.rows_in_order(name, rows)
        out = np.empty((*np.shape(query)[:-1], len(rows)), np.float32)
        out[..., order] = inner_products(found, query)
        return out

    @cached_property
    def table(self) -> pa.Table:
        with pa.memory_map(str(self.folder / ITEMS)) as source:
            return pa.ipc.open_file(source).read_all()

    def rows(self, rows: np.ndarray) -> pd.DataFrame:
        frame: pd.DataFrame = self.table.take(pa.array(rows, pa.int64())).to_pandas()
        return frame

    def relative_rows(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row in relative.npy of each id, whether this segment holds a relative vector for it)."""
        return sorted_positions(self.relative_ids, ids)

    def space_rows(
        self, space: str, weights: Mapping[str, float], start: int, stop: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids, float32 vectors) of the segment's own items ``start:stop`` in a search space."""
        ids = self.ids[start:stop]
        if space not in (STYLE, RELATIVE):
            return ids, np.asarray(self.array(space)[start:stop], np.float32)
        vectors = stacked({n: self.array(n)[start:stop] for n in weights}, weights)
        if space == RELATIVE and len(self.relative_ids):
            where, found = self.relative_rows(ids)
            vectors[found] = self.array(RELATIVE)[where[found]]
        return ids, vectors

    def space_size(self, space: str) -> int:
        """Vectors in a search space: one per item, plus in the relative space the relative
        vectors held for older items (``extra_relative_rows``), counted without reading them."""
        if space != RELATIVE:
            return len(self)
        return len(self) + int((~self.positions(self.relative_ids)[1]).sum())

    def extra_relative_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Relative vectors this segment holds for older items (not its own)."""
        foreign = ~self.positions(self.relative_ids)[1]
        return self.relative_ids[foreign], np.asarray(
            self.array(RELATIVE)[np.flatnonzero(foreign)], np.float32
        )

    def space_chunks(
        self, space: str, weights: Mapping[str, float]
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every (ids, vectors) of a search space, CHUNK rows at a time."""
        for start in range(0, len(self.ids), CHUNK):
            yield self.space_rows(space, weights, start, min(len(self.ids), start + CHUNK))
        if space == RELATIVE and len(self.relative_ids):
            extra_ids, extra = self.extra_relative_rows()
            if len(extra_ids):
                yield extra_ids, extra

    def space_parts(
        self, space: str, ids: np.ndarray, weights: Mapping[str, float]
    ) -> Iterator[tuple[np.ndarray, str, np.ndarray, slice, np.float64]]:
        """Where the vectors in a space of ids this segment holds come from, one part at a time:
        (which of ``ids``, the stored array, its rows, the columns the part fills in the space,
        the part's scale). A relative vector held for an id replaces its stacked style parts;
        the stacked style space is [sqrt(w_i) v_i] (``spaces.stacked``)."""
        rows, own = self.positions(ids)
        if space not in (STYLE, RELATIVE):
            yield own, space, rows[own], slice(None), np.float64(1.0)
            return
        relative = np.zeros(len(ids), bool)
        if space == RELATIVE:
            where, relative = self.relative_rows(ids)
            yield relative, RELATIVE, where[relative], slice(None), np.float64(1.0)
        plain = own & ~relative
        start = 0
        for name, weight in weights.items():
            stop = start + self.array(name).shape[1]
            yield plain, name, rows[plain], slice(start, stop), np.float64(np.sqrt(weight))
            start = stop

    def space_vectors(self, space: str, ids: np.ndarray, weights: Mapping[str, float]) -> np.ndarray:
        """float32 vectors in a space of ids this segment holds (own items, or relative rows);
        zero rows for ids it does not hold."""
        out = np.zeros((len(ids), self.space_dim(space, weights)), np.float32)
        for which, name, rows, columns, scale in self.space_parts(space, ids, weights):
            if which.any():
                out[which, columns] = scale * self.vectors(name, rows)
        return out

    def space_scores(
        self, space: str, ids: np.ndarray, query: np.ndarray, weights: Mapping[str, float]
    ) -> np.ndarray:
        """Inner products of one query with ``space_vectors``' rows, computed from the float16
        rows part by part (``index.scoring``): in the stacked style space
        sum_i sqrt(w_i) <v_i, q_i> over the query's parts q_i."""
        out = np.zeros(len(ids), np.float32)
        for which, name, rows, columns, scale in self.space_parts(space, ids, weights):
            if which.any():
                out[which] += scale * self.scores(name, rows, query[columns])
        return out

    def space_dim(self, space: str, weights: Mapping[str, float]) -> int:
        if space in (STYLE, RELATIVE):
            return sum(self.array(n).shape[1] for n in weights)
        return int(self.array(space).shape[1])

    def ann(self, space: str) -> faiss.Index | None:
        """The segment's approximate index of ``space`` (memory-mapped), tuned; None if exact."""
        if space not in self._ann:
            info = self.meta.get("spaces", {}).get(space)
            index = None
            if info and (self.folder / f"ann-{space}.faiss").exists():
                index = ann.load(self.folder / f"ann-{space}.faiss")
            self._ann[space] = index
        return self._ann[space]

    def search(
        self,
        space: str,
        queries: np.ndarray,
        k: int,
        weights: Mapping[str, float],
        skip: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, ids) per query row in a space (ids -1 where fewer exist), the ids
        in ``skip`` (sorted) left out. From an approximate index: its tuned factor x ``k``
        candidates with approximate scores, the search parameter scaled up with ``k`` past the
        depth it was tuned for."""
        index = self.ann(space)
        skip = skip if skip is not None and len(skip) else None
        if index is None:
            chunks = self.space_chunks(space, weights)
            if skip is not None:
                chunks = ((ids[keep], v[keep]) for ids, v in chunks if (keep := ~np.isin(ids, skip)).any())
            return exact_top(chunks, queries, k)
        info = self.meta["spaces"][space]
        value = int(info["value"]) * max(1, -(-k // ann.candidates_for(10)))
        return ann.search(index, queries, k * int(info.get("factor", 1)), info["param"], value, skip)


def exact_top(
    chunks: Iterator[tuple[np.ndarray, np.ndarray]], queries: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` inner products of each query over every (ids, vectors) chunk."""
    q = np.asarray(queries, np.float32)
    return top_scored(((ids, q @ vectors.T) for ids, vectors in chunks), len(q), k)


def top_scored(
    scored: Iterator[tuple[np.ndarray, np.ndarray]], queries: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` (scores, ids) per query over (ids, scores of each query with them) chunks,
    best first, padded with (-inf, -1)."""
    best_scores = np.full((queries, 0), -np.inf, np.float32)
    best_ids = np.zeros((queries, 0), np.int64)
    for ids, scores in scored:
        best_scores = np.concatenate([best_scores, scores], axis=1)
        best_ids = np.concatenate([best_ids, np.broadcast_to(ids, scores.shape)], axis=1)
        if best_scores.shape[1] > k:
            keep = np.argpartition(-best_scores, k - 1, axis=1)[:, :k]
            best_scores = np.take_along_axis(best_scores, keep, axis=1)
            best_ids = np.take_along_axis(best_ids, keep, axis=1)
    order = np.argsort(-best_scores, axis=1, kind="stable")
    scores, ids = np.take_along_axis(best_scores, order, axis=1), np.take_along_axis(best_ids, order, axis=1)
    if scores.shape[1] < k:
        pad = k - scores.shape[1]
        scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
    return scores, ids


class SegmentWriter:
    """A segment being written: rows go into memory-mapped float16 files in a temporary folder;
    ``readable`` opens it for searching before it is sealed (relative vectors and approximate
    indexes are computed from it); ``seal`` syncs every file and renames the folder into place."""

    def __init__(self, parent: Path, name: str, ids: np.ndarray, dims: Mapping[str, int]) -> None:
        self.parent, self.name = parent, name
        self.tmp = parent / f".{name}.tmp"
        self.tmp.mkdir(parents=True)
        self.ids = np.asarray(ids, np.int64)
        self.meta: dict[str, Any] = {"items": len(self.ids), "descriptors": dict(dims), "spaces": {}}
        np.save(self.tmp / IDS, self.ids)
        self.arrays = {
            n: np.lib.format.open_memmap(
                self.tmp / f"{n}.npy", mode="w+", dtype=np.float16, shape=(len(self.ids), d)
            )
            for n, d in dims.items()
        }

    def put(self, rows: np.ndarray, vectors: Mapping[str, np.ndarray]) -> None:
        """Unit vectors of the items at ``rows`` (positions in ``ids``)."""
        for name, array in self.arrays.items():
            array[rows] = vectors[name]

    def items(self, frame: pd.DataFrame) -> None:
        """The items' metadata, one row per id in ``ids`` order."""
        table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
        with pa.OSFile(str(self.tmp / ITEMS), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)

    def relative(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        order = np.argsort(ids, kind="stable")
        np.save(self.tmp / RELATIVE_IDS, np.asarray(ids, np.int64)[order])
        np.save(self.tmp / RELATIVE_VECTORS, np.asarray(vectors, np.float16)[order])
        self.meta["relative"] = len(ids)

    def readable(self) -> Segment:
        for array in self.arrays.values():
            array.flush()
        (self.tmp / META).write_text(json.dumps(self.meta, indent=1) + "\n")
        return Segment(self.tmp)

    def approximate(
        self,
        spaces: list[str],
        weights: Mapping[str, float],
        index_type: str,
        memory: int | None,
        template: Template | None = None,
    ) -> None:
        """An approximate index per search space where the segment is large enough (``index.ann``),
        tuned against exact search on items of the segment; trained like ``template``'s where it
        gives one (a larger segment of the same collection), on a sample of the segment otherwise."""
        segment = self.readable()
        for space in spaces:
            rows = segment.space_size(space)
            dim = segment.space_dim(space, weights)
            factory = ann.choose(rows, dim, index_type, memory)
            if factory is None:
                continue
            started = time.perf_counter()
            reused = template(space, factory, rows) if template else None
            factory = reused[0] if reused else factory
            log.info(
                "approximate index of %s: %s over %d vectors%s", space, factory, rows, reused and " (reused)"
            )
            index = ann.build(
                factory,
                dim,
                partial(training_sample, segment, space, weights),
                segment.space_chunks(space, weights),
                reused[1] if reused else None,
            )
            query_ids, queries = sample_space(segment, space, weights, ann.TUNE_QUERIES)
            truth, rescore = tuning_reference(segment, space, weights, queries)
            versioned = np.isin(query_ids, segment.relative_ids) if space == RELATIVE else None
            tuning = ann.tune(index, factory, (query_ids, queries), truth, rescore, strata=versioned)
            ann.save(index, self.tmp / f"ann-{space}.faiss")
            self.meta["spaces"][space] = asdict(tuning)
            log.info(
                "  %s=%d, %d x candidates: recall@10 %.3f (%.0f s)",
                tuning.param or "exact",
                tuning.value,
                tuning.factor,
                tuning.recall,
                time.perf_counter() - started,
            )

    def seal(self) -> Segment:
        """Sync everything, then rename the folder into place (atomic)."""
        segment = self.readable()
        for file in self.tmp.iterdir():
            fsync_path(file)
        fsync_path(self.tmp)
        final = self.parent / self.name
        os.replace(self.tmp, final)
        fsync_path(self.parent)
        del segment
        return Segment(final)


def tuning_reference(
    segment: Segment, space: str, weights: Mapping[str, float], queries: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray], ann.Rescore]:
    """(exact top 11 of each query, the re-scoring that tuning uses). Tuning re-scores the same
    queries' candidates for every setting it tries: where queries x rows fit TABLE_CELLS, every
    exact score is computed once and re-scoring looks them up; otherwise it reads the rows."""
    rows = segment.space_size(space)
    chunks = segment.space_chunks(space, weights)
    if rows * len(queries) > TABLE_CELLS:

        def rescore(q: np.ndarray, found: np.ndarray) -> np.ndarray:
            from stylesim.index.searching import rescore as exact

            return exact(segment, space, q, found, dict(weights))

        return exact_top(chunks, queries, 11), rescore
    q = np.asarray(queries, np.float32)
    scored = [(ids, q @ vectors.T) for ids, vectors in chunks]
    ids = np.concatenate([i for i, _ in scored])
    order = np.argsort(ids)
    ids, table = ids[order], np.concatenate([t for _, t in scored], axis=1)[:, order]

    def look_up(q_rows: np.ndarray, found: np.ndarray) -> np.ndarray:
        assert len(q_rows) == len(table), "the tuning queries, in order"
        columns, known = sorted_positions(ids, found)
        known &= found >= 0
        return np.where(known, np.take_along_axis(table, columns, axis=1), np.float32(-np.inf))

    return top_scored(iter([(ids, table)]), len(q), 11), look_up


def training_sample(segment: Segment, space: str, weights: Mapping[str, float]) -> np.ndarray:
    """Vectors in a space of up to ann.TRAIN_ITEMS random items: what an approximate index is
    trained on."""
    return sample_space(segment, space, weights, ann.TRAIN_ITEMS)[1]


def sample_space(
    segment: Segment, space: str, weights: Mapping[str, float], count: int
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors in a space) of up to ``count`` random items of the segment (fixed seed).
    In the relative space half of them are items with versions (a relative vector proper): the
    queries that space is for, and the hardest for an index fitted mostly on the others."""
    rng = np.random.default_rng(0)
    ids = segment.ids[np.sort(rng.choice(len(segment), min(count, len(segment)), replace=False))]
    if space == RELATIVE and len(segment.relative_ids):
        own = segment.relative_ids
        chosen = rng.choice(own, min(count // 2, len(own)), replace=False)
        ids = np.unique(np.concatenate([chosen, ids[: count - len(chosen)]]))
    return ids, segment.space_vectors(space, ids, weights)


def sorted_positions(sorted_ids: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position of each of ``ids`` (any shape) in the ascending ``sorted_ids``, whether it is there)."""
    rows = np.searchsorted(sorted_ids, ids).clip(0, max(0, len(sorted_ids) - 1))
    found = (sorted_ids[rows] == ids) if len(sorted_ids) else np.zeros(np.shape(ids), bool)
    return rows, found
