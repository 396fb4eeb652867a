"""Searching an index with query pictures, and the result objects every face of the API shows
(``search --format json`` and the server return them as they are).

A result: ``{"rank", "score", "path", "id", "kind", "width", "height"}`` plus, for frames,
``"video", "time", "frame"`` and, for fused searches, ``"scores"`` (each component's cosine).
Scores are cosine similarities clamped to [-1, 1]: 1 is the same look (or content), 0 unrelated,
below 0 opposed (float16 storage and the content discount can step past the bounds by a hair).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stylesim.api.indexes import make_extractor, resolve_index_dir
from stylesim.api.queries import QueryPicture, encode_queries, load_queries, own_items
from stylesim.collection.timecode import format_time
from stylesim.descriptors.extract import DescriptorExtractor
from stylesim.errors import StylesimError, UsageError
from stylesim.index.backend import SearchBackend
from stylesim.index.search import (
    Group,
    Hit,
    fusion_weights,
    query_descriptors,
    search_grouped,
    search_vectors,
)
from stylesim.index.spaces import stacked
from stylesim.index.store import IndexStore

Result = dict[str, Any]


def bounded(score: float) -> float:
    return round(min(1.0, max(-1.0, float(score))), 6)


def hit_results(store: SearchBackend, hits: list[Hit], first_rank: int = 1) -> list[Result]:
    """Result objects of hits, ranked from ``first_rank`` (their metadata read in one go)."""
    rows = store.rows(np.array([h.id for h in hits], np.int64))
    return [
        hit_result(rank, hit, {str(k): v for k, v in item.items()})
        for rank, (hit, item) in enumerate(zip(hits, rows.to_dict("records"), strict=True), first_rank)
    ]


def hit_result(rank: int, hit: Hit, item: dict[str, Any]) -> Result:
    """The result object of a hit whose metadata row is ``item``."""
    result: Result = {
        "rank": rank,
        "score": bounded(hit.score),
        "path": item["path"],
        "id": hit.id,
        "kind": item["kind"],
        "width": int(item["width"]),
        "height": int(item["height"]),
    }
    if item["kind"] == "frame":
        result.update(video=item["video"], time=float(item["time"]), frame=int(item["frame"]))
    if hit.scores:
        result["scores"] = {n: bounded(s) for n, s in hit.scores.items()}
    return result


def group_result(store: SearchBackend, rank: int, group: Group) -> Result:
    """A video ranked by its best frame, with its best moments; a lone image as a plain result."""
    shown = hit_results(store, group.hits, rank)
    best = dict(shown[0], rank=rank)
    if best["kind"] != "frame":
        return best
    frames = store.rows(store.matching("path", [group.key]))
    moment_keys = ("id", "score", "time", "frame", "scores")
    return {
        "rank": rank,
        "score": best["score"],
        "path": group.key,
        "kind": "video",
        "width": best["width"],
        "height": best["height"],
        "duration": float(frames["duration"].iloc[0]),
        "frames": int((frames["kind"] == "frame").sum()),
        "moments": [{k: v for k, v in moment.items() if k in moment_keys} for moment in shown],
    }


def search_pictures(
    store: SearchBackend,
    extractor: DescriptorExtractor,
    pictures: list[QueryPicture],
    by: str = "style",
    k: int = 10,
    group_by: str | None = None,
    moments: int = 3,
    include_query: bool = False,
    batch_size: int | None = None,
) -> list[Result]:
    """One result object per query picture (the encoder runs once per batch of them)."""
    raw = encode_queries(pictures, extractor, batch_size)
    return search_encoded(store, pictures, raw, by, k, group_by, moments, include_query)


def search_encoded(
    store: SearchBackend,
    pictures: list[QueryPicture],
    raw: dict[str, np.ndarray],
    by: str = "style",
    k: int = 10,
    group_by: str | None = None,
    moments: int = 3,
    include_query: bool = False,
) -> list[Result]:
    """One result object per query picture, from its raw descriptor vectors (rows of ``raw``,
    as ``encode_queries`` gives them)."""
    vectors = store.prepare_queries({name: raw[name] for name in query_descriptors(by, store)})
    exclude = None if include_query else [own_items(store, p) for p in pictures]
    return rank_results(store, [p.spec for p in pictures], vectors, by, k, group_by, moments, exclude)


def rank_results(
    store: SearchBackend,
    names: list[str],
    vectors: dict[str, Any],
    by: str,
    k: int,
    group_by: str | None = None,
    moments: int = 3,
    exclude: Sequence[Collection[int]] | None = None,
) -> list[Result]:
    """Result objects for prepared query vectors (rows in ``names`` order)."""
    if group_by:
        groups = search_grouped(store, vectors, by, k, moments, exclude)
        return [
            {
                "query": q,
                "by": by,
                "group_by": group_by,
                "results": [group_result(store, r, g) for r, g in enumerate(gs, 1)],
            }
            for q, gs in zip(names, groups, strict=True)
        ]
    hits = search_vectors(store, vectors, by, k, exclude=exclude)
    return [
        {"query": q, "by": by, "results": hit_results(store, row)} for q, row in zip(names, hits, strict=True)
    ]


def copies_of_item(store: SearchBackend, item_id: int) -> set[int]:
    """The item and exact copies of its file (same bytes); a frame is only itself."""
    item = store.rows(np.array([item_id])).iloc[0]
    if item["kind"] != "image" or pd.isna(item["sha256"]):
        return {int(item_id)}
    copies = store.rows(store.matching("sha256", [item["sha256"]]))
    return {int(i) for i in copies.index[(copies["kind"] == "image").to_numpy(bool)]} | {int(item_id)}


def item_name(store: SearchBackend, item_id: int) -> str:
    """How a query by an indexed item is named in results: its path, or VIDEO@TIME."""
    item = store.rows(np.array([item_id])).iloc[0]
    path = str(item["path"])
    return path if item["kind"] != "frame" else f"{path}@{format_time(float(item['time']))}"


def search_items(
    store: SearchBackend,
    ids: list[int],
    by: str = "style",
    k: int = 10,
    group_by: str | None = None,
    moments: int = 3,
    include_query: bool = False,
) -> list[Result]:
    """Results for indexed items as queries, from their stored vectors (no model pass); each item
    and exact copies of it are left out of its own results unless ``include_query``."""
    rows = np.asarray(ids, dtype=np.int64)
    present = store.contains(rows)
    if not present.all():
        raise StylesimError(f"item {ids[int(np.argmin(present))]}: no such item in {store.root}")
    vectors = {n: store.vectors_of(n, rows) for n in query_descriptors(by, store)}
    exclude = None if include_query else [copies_of_item(store, i) for i in ids]
    return rank_results(store, [item_name(store, i) for i in ids], vectors, by, k, group_by, moments, exclude)


def search(
    queries: list[str],
    index: str | Path | None = None,
    by: str = "style",
    k: int = 10,
    device: str = "auto",
    batch_size: int | None = None,
    group_by: str | None = None,
    moments: int = 3,
    include_query: bool = False,
    precision: str = "auto",
    backend: SearchBackend | None = None,
) -> list[Result]:
    """One result object per query, in query order: ``{"query", "by", "results": [...]}``, or
    ``{"query", "by", "error", "results": []}`` for a query that cannot be read (the others
    are answered). With ``group_by="video"`` each result is a video (or a lone image) ranked by
    its best frame, with its best ``moments`` as ``{"time", "score", "id", "frame"}``. The query
    itself and exact copies of it are left out unless ``include_query``. ``backend`` (e.g.
    ``open_qdrant``) is searched instead of the index folder ``index``, its queries encoded with
    the model its manifest names."""
    if not queries:
        raise UsageError("give at least one query image")
    if group_by not in (None, "video"):
        raise UsageError(f"--group-by {group_by!r}: use video")
    store = backend if backend is not None else IndexStore.open(resolve_index_dir(index))
    query_descriptors(by, store)  # validates --by before the model loads
    pictures, errors = load_queries(queries, int(store.manifest["image_size"]))
    usable = [p for p in pictures if p is not None]
    answers: Iterator[Result] = iter([])
    if usable:
        extractor = make_extractor(store.manifest, device, precision)
        answers = iter(
            search_pictures(store, extractor, usable, by, k, group_by, moments, include_query, batch_size)
        )
    return [
        {"query": q, "by": by, "error": errors[i], "results": []} if i in errors else next(answers)
        for i, q in enumerate(queries)
    ]


def search_style_and_content(
    style_query: str,
    content_query: str,
    index: str | Path | None = None,
    k: int = 10,
    mix: float = 0.5,
    device: str = "auto",
    backend: SearchBackend | None = None,
    precision: str = "auto",
) -> list[Result]:
    """Items that look like ``style_query`` and show what ``content_query`` shows:
    score = mix * style(A, x) + (1 - mix) * content(B, x), where style is the ``--by style``
    fusion without its content discount (the content asked for is B's). The two query pictures
    themselves are left out. Returns one result object, in the shape ``search`` returns.
    ``backend`` is searched instead of the index folder, as in ``search``."""
    if not 0.0 <= mix <= 1.0:
        raise UsageError(f"--mix {mix}: give a number between 0 and 1")
    store = backend if backend is not None else IndexStore.open(resolve_index_dir(index))
    if "content" not in store.descriptors:
        raise StylesimError(f"{store.root}: this index has no content descriptor")
    pictures, errors = load_queries([style_query, content_query], int(store.manifest["image_size"]))
    if errors:
        raise StylesimError(next(iter(errors.values())))
    usable = [p for p in pictures if p is not None]
    extractor = make_extractor(store.manifest, device, precision)
    return [style_and_content(store, extractor, usable[0], usable[1], k, mix)]


def style_and_content(
    store: SearchBackend,
    extractor: DescriptorExtractor,
    style: QueryPicture,
    content: QueryPicture,
    k: int,
    mix: float,
) -> Result:
    """``search_style_and_content`` for loaded pictures (the server calls it directly)."""
    fused = fusion_weights("style", store)
    raw = encode_queries([style, content], extractor)
    rows = {**dict.fromkeys(fused, 0), "content": 1}  # row 0 = the style query, row 1 = the content query
    vectors = store.prepare_queries({name: raw[name][row : row + 1] for name, row in rows.items()})
    weights = {name: mix * w for name, w in fused.items()}
    weights["content"] = weights.get("content", 0.0) + (1.0 - mix)
    used = {n: w for n, w in weights.items() if w > 0}
    exclude = [own_items(store, style) | own_items(store, content)]
    hits = search_vectors(store, vectors, "style+content", k, used, exclude=exclude)[0]
    return {
        "query": f"style of {style.spec} + content of {content.spec}",
        "by": "style+content",
        "style_query": style.spec,
        "content_query": content.spec,
        "mix": mix,
        "results": hit_results(store, hits),
    }


def search_raw(store: SearchBackend, name: str, raw: dict[str, np.ndarray], by: str, k: int) -> Result:
    """Results for one query given as raw descriptor vectors (``embedding_input`` of clip
    back): standardised and normalised as the stored vectors were, then searched."""
    needed = query_descriptors(by, store)
    missing = [n for n in needed if n not in raw]
    if missing:
        needs = ", ".join(missing)
        raise UsageError(f"--by {by} needs the {needs} vector(s); send one descriptor's vector with its mode")
    vectors = store.prepare_queries({n: np.asarray(raw[n], np.float32).reshape(1, -1) for n in needed})
    return rank_results(store, [name], vectors, by, k)[0]


def result_vectors(store: SearchBackend, ids: list[int], by: str) -> np.ndarray:
    """(len(ids), d) unit vectors of items as ``by`` compares them (for fused modes the weighted
    stack of the components, whose inner products are the fused cosine): to find near-duplicates
    among results."""
    rows = np.asarray(ids, dtype=np.int64)
    weights = fusion_weights(by, store)  # style-relative: the stacked weights its vectors were made with
    both = stacked({n: store.vectors_of(n, rows) for n in weights}, weights)
    unit: np.ndarray = both / np.maximum(np.linalg.norm(both, axis=1, keepdims=True), 1e-12)
    return unit
