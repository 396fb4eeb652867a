"""Qdrant as a serving backend: an index exported into one Qdrant collection, searched with the
same fused scoring as the index folder (``index.search`` over a ``SearchBackend``).

The collection holds one point per live item, its id the item id, with the named vectors of every
search space (``index.spaces``): ``gram``, ``adain``, ``content``, ``colour`` (the stored unit
vectors), ``style`` (the stacked weighted style vector, whose inner product is the fused cosine)
and, with the content descriptor, ``style-relative`` (each item's relative style vector), all
float32 with distance DOT: Qdrant stores them as given, so its scores are the inner products the
index folder computes from the same float16 vectors (COSINE would re-normalise them, and the
stored vectors are unit length only to float16 precision). No quantisation is configured, so a
score Qdrant returns is exact whether it searched exactly or through its HNSW graph; HNSW only
decides which candidates are found (``QdrantStore.nearest`` takes ``depth`` of them).
The item's metadata row is the point's payload (missing values as null).

One more point, the record (id ``RECORD_ID``, a UUID, so it never meets an item id; no vectors,
so no search finds it), holds what a search needs beyond the vectors, as payload: the index
manifest (queries are encoded with the model it names), the collection standardisation of each
descriptor (mean and scale as base64 of little-endian float64), the version threshold of
``--by style-relative``, the ids of the content sample of ``--by style``'s content discount, the
number of items, and the export's progress: the index folder and
generation exported, the highest id written so far and whether the export is complete.

Exporting is resumable: items are written in ascending id order, a batch at a time, and the record
is updated after each batch, so running the export again for the same generation of the index
skips the ids written. A newer generation (items added, removed, statistics refitted, relative
vectors recomputed) is written again in full over the points there (upserts by id), and points of
items no longer in the index are deleted. A search refuses a collection whose export is not
complete.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from stylesim.descriptors import Descriptor, build_descriptors
from stylesim.descriptors.standardise import Standardiser, unit_rows
from stylesim.errors import StylesimError
from stylesim.index.ann import candidates_for
from stylesim.index.frames import ITEM_DTYPES, empty_frame, with_columns_of
from stylesim.index.manifest import Manifest, differences, without_legacy_settings
from stylesim.index.policy import TYPICAL_CONTENT_SAMPLE
from stylesim.index.relative import query_relative, sample_ids
from stylesim.index.spaces import space_dim, space_names
from stylesim.index.store import IndexStore

RECORD_ID = "5b14eb25-637f-5445-b928-9ca0ada8937f"  # uuid5(NAMESPACE_URL, "stylesim")
RECORD_FORMAT = 1
REQUEST_BYTES = 16 * 2**20  # a request's vectors as JSON text, at most (servers refuse 32 MiB)
JSON_FLOAT_BYTES = 20  # a float32 written as JSON text by the REST client
PAGE = 10_000  # ids scrolled at a time
QUERIES_PER_REQUEST = 64
TIMEOUT_S = 120


class QdrantError(StylesimError):
    """A Qdrant collection that cannot be used, or a server that cannot be reached."""


def is_server(target: str) -> bool:
    """Whether ``target`` names a Qdrant server (an http(s) URL) rather than a local-mode folder."""
    return target.startswith(("http://", "https://"))


def connect(target: str, create: bool = False) -> QdrantClient:
    """A client of the server at URL ``target`` (API key from $QDRANT_API_KEY), or of the
    local-mode folder ``target`` (created when ``create``), or an in-memory one for ":memory:"."""
    if target == ":memory:":
        return QdrantClient(location=":memory:")
    if is_server(target):
        return QdrantClient(url=target, api_key=os.environ.get("QDRANT_API_KEY") or None, timeout=TIMEOUT_S)
    folder = Path(target).expanduser()
    if not create and not folder.is_dir():
        raise QdrantError(f"{target}: no such Qdrant folder (give a folder made by export-qdrant, or a URL)")
    try:
        return QdrantClient(path=str(folder))
    except RuntimeError:  # qdrant-client's lock: one client per local-mode folder
        raise QdrantError(
            f"{target}: another process has this Qdrant folder open (local mode admits one client; "
            "serve the collection from a Qdrant server to share it)"
        ) from None


def is_local(client: QdrantClient) -> bool:
    """Whether ``client`` runs Qdrant in this process (local mode always searches exactly)."""
    options = client.init_options
    return bool(options.get("path")) or options.get("location") == ":memory:"


def collection_exists(client: QdrantClient, collection: str, where: str) -> bool:
    """Whether the collection exists; QdrantError naming ``where`` when the server cannot be asked."""
    try:
        return bool(client.collection_exists(collection))
    except (ResponseHandlingException, UnexpectedResponse, OSError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise QdrantError(f"{where}: cannot reach the Qdrant server ({reason})") from None


def read_record(client: QdrantClient, collection: str) -> dict[str, Any] | None:
    """The export record of a collection (None when it has none)."""
    found = client.retrieve(collection, [RECORD_ID], with_payload=True, with_vectors=False)
    return dict(found[0].payload or {}) if found else None


def encoded(array: np.ndarray) -> str:
    return base64.b64encode(np.asarray(array, "<f8").tobytes()).decode("ascii")


def decoded(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), "<f8").copy()


def stats_payload(stats: dict[str, Standardiser]) -> dict[str, Any]:
    """The collection standardisation as JSON (exact: float64 bytes in base64)."""
    return {
        name: {"mean": encoded(s.mean), "scale": encoded(s.scale), "count": int(s.count)}
        for name, s in stats.items()
    }


def stats_from_payload(payload: dict[str, Any]) -> dict[str, Standardiser]:
    return {
        name: Standardiser(decoded(s["mean"]), decoded(s["scale"]), int(s["count"]))
        for name, s in payload.items()
    }


def json_value(value: Any) -> Any:
    """A metadata cell as JSON: numpy scalars as Python numbers, missing values and NaN as null."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


class QdrantStore:
    """An exported collection, read-only: the ``SearchBackend`` of ``index.search`` and the API
    over a Qdrant collection (module docstring). Local mode always searches exactly; a server
    searches its HNSW graph unless ``exact``."""

    def __init__(
        self, client: QdrantClient, collection: str, record: dict[str, Any], where: str, exact: bool = False
    ) -> None:
        self.client, self.collection, self.root = client, collection, where
        self.manifest: Manifest = without_legacy_settings(record["manifest"])
        self.descriptors: dict[str, Descriptor] = build_descriptors(self.manifest["descriptors"])
        self.fusion: dict[str, float] = self.manifest["style_fusion"]
        self.stats = stats_from_payload(record["stats"])
        self.threshold = record.get("version_threshold")
        self.sample: list[int] | None = record.get("content_sample")  # exports before 2026-12-06: none
        self._content_sample: np.ndarray | None = None
        self.agreement: float | None = record.get("style_agreement")  # exports before 2026-12-06: none
        self.items = int(record["items"])
        self.local, self.exact = is_local(client), exact
        dims = {n: d.dim for n, d in self.descriptors.items()}
        spaces = space_names(self.descriptors, self.fusion)
        self.dims = {space: space_dim(space, dims, self.fusion) for space in spaces}

    @classmethod
    def open(cls, target: str, collection: str, exact: bool = False) -> QdrantStore:
        """The collection ``collection`` of the Qdrant at ``target`` (``connect``), as exported by
        ``export``; QdrantError naming it when it is missing or its export is not complete."""
        client = connect(target)
        try:
            return cls.attach(client, collection, f"Qdrant collection {collection!r} at {target}", exact)
        except BaseException:
            client.close()
            raise

    @classmethod
    def attach(cls, client: QdrantClient, collection: str, where: str, exact: bool = False) -> QdrantStore:
        """``open`` for a client at hand (``where`` names the collection in messages)."""
        if not collection_exists(client, collection, where):
            raise QdrantError(f"{where}: no such collection; write it with stylesim export-qdrant")
        record = read_record(client, collection)
        if record is None or record.get("stylesim_export") != RECORD_FORMAT:
            raise QdrantError(f"{where}: not written by stylesim export-qdrant")
        if not record.get("complete"):
            raise QdrantError(f"{where}: its export is not complete; run stylesim export-qdrant again")
        return cls(client, collection, record, where, exact)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> QdrantStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ items
    def __len__(self) -> int:
        return self.items

    def _scroll(self, condition: models.Filter | None = None) -> Iterator[int]:
        """Ids of the item points (matching ``condition``), ascending."""
        offset: Any = None
        while True:
            points, offset = self.client.scroll(
                self.collection, condition, limit=PAGE, offset=offset, with_payload=False, with_vectors=False
            )
            yield from (int(p.id) for p in points if isinstance(p.id, int))
            if offset is None:
                return

    def ids(self) -> np.ndarray:
        """Every item id, ascending."""
        return np.sort(np.fromiter(self._scroll(), np.int64))

    def matching(self, column: str, values: list[Any]) -> np.ndarray:
        """Ids (ascending) of the items whose ``column`` holds one of ``values`` (a payload filter)."""
        wanted = [json_value(v) for v in values if json_value(v) is not None]
        if not wanted:
            return np.zeros(0, np.int64)
        condition = models.Filter(must=[models.FieldCondition(key=column, match=models.MatchAny(any=wanted))])
        return np.sort(np.fromiter(self._scroll(condition), np.int64))

    def _points(self, ids: np.ndarray, vector: str | None = None, payload: bool = False) -> dict[int, Any]:
        """The points of the distinct ``ids`` that exist, by id, with their vector ``vector`` and
        their payload if asked for (as few requests as the request size allows)."""
        unique = np.unique(ids[ids >= 0]).tolist()
        step = max(1, REQUEST_BYTES // (JSON_FLOAT_BYTES * (self.dims[vector] if vector else 64)))
        out: dict[int, Any] = {}
        for start in range(0, len(unique), step):
            chunk = unique[start : start + step]
            found = self.client.retrieve(
                self.collection, chunk, with_payload=payload, with_vectors=[vector] if vector else False
            )
            out.update((int(point.id), point) for point in found)
        return out

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Which of ``ids`` are items of the collection."""
        ids = np.asarray(ids, np.int64)
        return np.isin(ids, np.array(list(self._points(ids)), np.int64))

    def item_dtypes(self) -> dict[str, str]:
        standardised = [n for n, d in self.descriptors.items() if d.collection_norm != "none"]
        return ITEM_DTYPES | {f"norm_{n}": "float32" for n in standardised}

    def rows(self, ids: np.ndarray) -> pd.DataFrame:
        """Metadata of the items ``ids`` that exist, in ``ids`` order (their payloads), with the
        columns and dtypes of the index folder's rows."""
        ids = np.asarray(ids, np.int64)
        points = self._points(ids, payload=True)
        records = [points[i].payload for i in ids.tolist() if i in points]
        if not records:
            return empty_frame(self.item_dtypes()).set_index("id", drop=False)
        frame = with_columns_of(pd.DataFrame.from_records(records), self.item_dtypes())
        frame = frame.set_index("id", drop=False)
        frame.index.name = None
        return frame

    def vectors_of(self, name: str, ids: np.ndarray) -> np.ndarray:
        """float32 vectors of a search space (a descriptor's unit vectors), rows in ``ids`` order
        (zeros for ids that are not items)."""
        ids = np.asarray(ids, np.int64)
        found = self._points(ids, name)
        out = np.zeros((len(ids), self.dims[name]), np.float32)
        for row, item in enumerate(ids.tolist()):
            if item in found:
                out[row] = found[item].vector[name]
        return out

    def scores_of(self, name: str, ids: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Inner products of one query vector (or each row of a matrix of them) with items'
        vectors of a search space."""
        scores: np.ndarray = np.asarray(query, np.float32) @ self.vectors_of(name, ids).T
        return scores

    # ------------------------------------------------------------------ search
    def _query(self, space: str, queries: np.ndarray, limit: int) -> list[list[models.ScoredPoint]]:
        """Qdrant's best ``limit`` points per query row in a space, best first."""
        params = None  # local mode: always exact, and warns of search parameters
        if not self.local:
            params = models.SearchParams(exact=True) if self.exact else models.SearchParams(hnsw_ef=limit)
        requests = [
            models.QueryRequest(query=q.tolist(), using=space, limit=limit, params=params, with_payload=False)
            for q in np.asarray(queries, np.float32)
        ]
        out: list[list[models.ScoredPoint]] = []
        for start in range(0, len(requests), QUERIES_PER_REQUEST):
            answers = self.client.query_batch_points(
                self.collection, requests[start : start + QUERIES_PER_REQUEST]
            )
            out += [answer.points for answer in answers]
        return out

    def nearest(
        self, space: str, queries: np.ndarray, k: int, depth: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (inner products, ids) per query row, padded with -inf / -1. Qdrant's scores are
        the exact inner products of the stored vectors (no quantisation), so searching its HNSW
        graph only decides the candidates: ``depth`` of them (default ``ann.candidates_for(k)``)
        are taken and the best ``k`` kept."""
        limit = k if self.exact or self.local else max(k, depth or candidates_for(k))
        found = self._query(space, queries, limit)
        scores = np.full((len(found), k), -np.inf, np.float32)
        ids = np.full((len(found), k), -1, np.int64)
        for row, points in enumerate(found):
            best = sorted(points, key=lambda p: -p.score)[:k]
            scores[row, : len(best)] = [p.score for p in best]
            ids[row, : len(best)] = [int(p.id) for p in best]
        return scores, ids

    def candidates(self, space: str, queries: np.ndarray, depth: int) -> list[np.ndarray]:
        """Per query row, the ids (ascending) of Qdrant's ``depth`` best items in a space."""
        found = self._query(space, queries, depth)
        return [np.unique(np.array([int(p.id) for p in points], np.int64)) for points in found]

    def relative_query(self, style: np.ndarray, content: np.ndarray, threshold: float) -> np.ndarray:
        """Relative style vectors of query rows (``index.relative.query_relative``)."""
        return query_relative(self, style, content, threshold)

    def version_threshold(self) -> float:
        return float(self.threshold) if self.threshold is not None else float("inf")

    def style_agreement(self) -> float | None:
        """``SearchBackend.style_agreement``: the index folder's, recorded by the export."""
        return self.agreement

    def content_sample(self) -> np.ndarray:
        """``SearchBackend.content_sample``: the items the export recorded (the index folder's
        own sample), their vectors read once; an older export's sample is drawn from every id."""
        if self._content_sample is None:
            ids = self.sample if self.sample is not None else sample_ids(self.ids(), TYPICAL_CONTENT_SAMPLE)
            self._content_sample = self.vectors_of("content", np.asarray(ids, np.int64))
        return self._content_sample

    def prepare_queries(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Query vectors as the exported vectors were made: the collection's standardisation where
        the descriptor has one, then unit length."""
        stats = self.stats
        return {n: stats[n].apply(x)[0] if n in stats else unit_rows(x) for n, x in raw.items()}


# ---------------------------------------------------------------------- export
@dataclass
class ExportReport:
    items: int  # live items of the index, now points of the collection
    written: int  # points written by this run
    kept: int  # points an interrupted run had written, skipped
    removed: int  # points of items no longer in the index, deleted
    seconds: float


def check_collection(client: QdrantClient, collection: str, manifest: Manifest, dims: dict[str, int]) -> None:
    """QdrantError unless the existing collection has these named vectors (DOT) and its record,
    if any, the same manifest; a collection without a record must be empty."""
    where = f"collection {collection!r}"
    vectors = client.get_collection(collection).config.params.vectors
    have = {n: (p.size, p.distance) for n, p in vectors.items()} if isinstance(vectors, dict) else {}
    if have != {n: (d, models.Distance.DOT) for n, d in dims.items()}:
        raise QdrantError(f"{where}: holds other vectors than this index; export into another collection")
    record = read_record(client, collection)
    if record is None and client.count(collection, exact=True).count:
        raise QdrantError(f"{where}: not written by stylesim export-qdrant; export into another collection")
    if record is not None and (changed := differences(without_legacy_settings(record["manifest"]), manifest)):
        raise QdrantError(
            f"{where}: holds vectors made with other settings ({'; '.join(changed)}); "
            "export into another collection"
        )


def prepare_collection(
    client: QdrantClient, collection: str, store: IndexStore, dims: dict[str, int]
) -> dict[str, Any] | None:
    """Create the collection (named vectors, DOT; keyword indexes of the payload the search
    filters on), or check an existing one; its export record, if any."""
    if collection_exists(client, collection, f"collection {collection!r}"):
        check_collection(client, collection, store.manifest, dims)
        return read_record(client, collection)
    vectors = {n: models.VectorParams(size=d, distance=models.Distance.DOT) for n, d in dims.items()}
    client.create_collection(collection, vectors_config=vectors)
    if not is_local(client):  # local mode scans payloads, it has no indexes
        for field in ("path", "sha256"):
            client.create_payload_index(collection, field, models.PayloadSchemaType.KEYWORD)
    return None


def new_record(store: IndexStore) -> dict[str, Any]:
    """The export record of the index's committed state, nothing written yet."""
    threshold = store.version_threshold()
    return {
        "stylesim_export": RECORD_FORMAT,
        "manifest": store.manifest,
        "stats": stats_payload(store.stats),
        "version_threshold": threshold if np.isfinite(threshold) else None,
        "content_sample": sample_ids(store.ids(), TYPICAL_CONTENT_SAMPLE).tolist(),
        "style_agreement": store.style_agreement(),
        "items": len(store),
        "index": str(Path(store.root).resolve()),
        "generation": store.generation_file,
        "written": -1,
        "complete": False,
    }


def item_points(store: IndexStore, ids: np.ndarray, spaces: list[str]) -> list[models.PointStruct]:
    """Points of items: every search space's vector, the metadata row as payload."""
    vectors = {space: store.space_vectors(space, ids) for space in spaces}
    rows = store.rows(ids).to_dict("records")
    return [
        models.PointStruct(
            id=int(item),
            vector={space: vectors[space][row].tolist() for space in spaces},
            payload={str(k): json_value(v) for k, v in rows[row].items()},
        )
        for row, item in enumerate(ids.tolist())
    ]


def remove_others(client: QdrantClient, collection: str, live: np.ndarray) -> int:
    """Delete the item points whose ids are not in ``live``; how many."""
    offset: Any = None
    gone: list[models.ExtendedPointId] = []
    while True:
        points, offset = client.scroll(
            collection, limit=PAGE, offset=offset, with_payload=False, with_vectors=False
        )
        found = np.array([p.id for p in points if isinstance(p.id, int)], np.int64)
        gone += found[~np.isin(found, live)].tolist()
        if offset is None:
            break
    if gone:
        client.delete(collection, models.PointIdsList(points=gone), wait=True)
    return len(gone)


def export(
    store: IndexStore,
    client: QdrantClient,
    collection: str,
    batch: int = 256,
    on_plan: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ExportReport:
    """Write the index's live items into ``collection`` (module docstring), ``batch`` items at a
    time, resuming an interrupted export of the same generation; ``on_plan`` gets the number of
    items to write, ``on_progress`` each batch's count once it is stored."""
    started = time.monotonic()
    dims = {n: d.dim for n, d in store.descriptors.items()}
    spaces = space_names(store.descriptors, store.fusion)
    record = prepare_collection(
        client, collection, store, {s: space_dim(s, dims, store.fusion) for s in spaces}
    )
    fresh = new_record(store)
    resumed = record is not None and all(record.get(k) == fresh[k] for k in ("index", "generation", "stats"))
    ids = store.ids()
    removed = 0
    if not resumed:
        client.upsert(collection, [models.PointStruct(id=RECORD_ID, vector={}, payload=fresh)], wait=True)
        removed = remove_others(client, collection, ids)
    todo = ids[ids > (int(record["written"]) if resumed and record else -1)]
    if on_plan:
        on_plan(len(todo))
    width = sum(space_dim(s, dims, store.fusion) for s in spaces)
    per_request = max(1, REQUEST_BYTES // (JSON_FLOAT_BYTES * width))
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        for part in range(0, len(chunk), per_request):
            points = item_points(store, chunk[part : part + per_request], spaces)
            client.upsert(collection, points, wait=True)
        client.set_payload(collection, {"written": int(chunk[-1])}, [RECORD_ID], wait=True)
        if on_progress:
            on_progress(len(chunk))
    client.set_payload(collection, {"complete": True}, [RECORD_ID], wait=True)
    seconds = time.monotonic() - started
    return ExportReport(len(ids), len(todo), len(ids) - len(todo), removed, seconds)
