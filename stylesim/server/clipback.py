"""clip-retrieval back-end compatible routes, so clients and front-ends written for
``clip-retrieval back`` (rom1504/clip-retrieval, clip_back.py) browse a stylesim index unchanged:

    GET  /indices-list  -> ["default/style", "default/content", ...]: each served index once per
                           search mode; ``indice_name`` "NAME" alone means NAME/style, null the first
    POST /knn-service   {image (base64) | image_url | embedding_input, modality, num_images,
                         num_result_ids, indice_name, deduplicate, ...}
                        -> [{id, similarity, url, caption, path, ...}]: best first; the first
                           num_images carry metadata, the rest only id and similarity
    POST /metadata      {ids, indice_name} -> [{id, metadata}] in request order

As clip back does, bodies are read as JSON whatever their Content-Type (its front-end posts
``text/plain``), and the double-slash paths its front-end requests (``//knn-service``) are
answered too. Unlike clip back: ``modality: "text"`` (or a text query) is a clear 400, since
stylesim has no text encoder; ``image_url`` is refused unless the server was started with
``--allow-image-url``; ``embedding_input`` is a raw vector of the index's descriptor
(``NAME/gram``, ``NAME/adain``, ``NAME/content`` or ``NAME/colour``). ``url`` is the item's
thumbnail on this server; ``caption`` its file name (and time, for a video frame).
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from stylesim import api
from stylesim.errors import UsageError
from stylesim.server.app import ServerState
from stylesim.server.indexes import ServedIndex
from stylesim.server.queries import SEARCH_MODES

DUPLICATE = 0.94  # clip back's near-duplicate threshold on the inner product of result vectors
THUMBNAIL = 512
URL_TIMEOUT = 10.0


@dataclass(frozen=True)
class KnnRequest:
    image: str | None
    image_url: str | None
    embedding: list[float] | None
    num_images: int
    num_result_ids: int
    indice_name: str | None
    deduplicate: bool


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise UsageError("the body is not JSON") from None
    if not isinstance(body, dict):
        raise UsageError("the body must be a JSON object")
    return body


def parse_knn(body: dict[str, Any], max_k: int) -> KnnRequest:
    if body.get("modality", "image") != "image" or (body.get("text") or "").strip():
        raise UsageError(
            "stylesim searches images by look or content and has no text encoder: "
            "send image, image_url or embedding_input with modality image"
        )
    try:
        num_images = int(body.get("num_images", 40))
        num_result_ids = int(body.get("num_result_ids") or max(num_images, 1))
    except (TypeError, ValueError):
        raise UsageError("num_images and num_result_ids must be numbers") from None
    if num_images < 0 or num_result_ids < 1:
        raise UsageError("num_images must be 0 or more and num_result_ids 1 or more")
    return KnnRequest(
        body.get("image") or None, body.get("image_url") or None, body.get("embedding_input") or None,
        min(num_images, max_k), min(max(num_result_ids, num_images, 1), max_k), body.get("indice_name"),
        bool(body.get("deduplicate", False)),
    )  # fmt: skip


def item_ids(given: Any) -> list[int]:
    """clip back's ``ids``: a list of integers (numbers written as digit strings pass)."""

    def is_id(item: Any) -> bool:
        return (isinstance(item, int) and not isinstance(item, bool)) or (
            isinstance(item, str) and item.isdigit()
        )

    if not isinstance(given, list) or not all(is_id(item) for item in given):
        raise UsageError(f"ids {str(given)[:80]}: give a list of item ids (integers)")
    return [int(item) for item in given]


def split_indice(state: ServerState, indice: str | None) -> tuple[ServedIndex, str]:
    """``NAME/MODE`` (or NAME: style; null: the first index, style)."""
    name, _, mode = (indice or "").partition("/")
    served = state.catalog.get(name or None)
    mode = mode or "style"
    if mode not in SEARCH_MODES:
        raise UsageError(f"indice_name {indice!r}: the mode after / must be one of {', '.join(SEARCH_MODES)}")
    return served, mode


def caption(row: dict[str, Any]) -> str:
    name = Path(str(row["path"])).name
    if row.get("kind") == "frame" and row.get("time") is not None:
        return f"{name} @ {api.format_time(float(row['time']))}"
    return name


def metadata(row: dict[str, Any], base_url: str, index: str) -> dict[str, Any]:
    """An item as clip back's front-end shows it: url (our thumbnail), caption, and our columns
    (no NaN, no null caption: its JSON parser and renderer fail on them)."""
    query = urllib.parse.urlencode({"size": THUMBNAIL, "index": index})
    out = {"url": f"{base_url}items/{row['id']}/image?{query}", "caption": caption(row)}
    keep = ("path", "kind", "width", "height", "video", "time", "frame", "duration")
    out.update(
        {
            k: row[k]
            for k in keep
            if row.get(k) is not None and not (isinstance(row[k], float) and np.isnan(row[k]))
        }
    )
    return out


def fetch_url(url: str, max_bytes: int) -> bytes:
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise UsageError(f"image_url {url!r}: only http and https URLs")
    request = urllib.request.Request(url, headers={"User-Agent": "stylesim"})
    try:
        with urllib.request.urlopen(request, timeout=URL_TIMEOUT) as reply:  # noqa: S310 - scheme checked above
            data: bytes = reply.read(max_bytes + 1)
    except OSError as error:
        raise UsageError(f"image_url {url!r}: cannot fetch it ({error})") from None
    if len(data) > max_bytes:
        raise UsageError(f"image_url {url!r}: the image is over the upload limit")
    return data


def decode_image(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        raise UsageError("image: not base64") from None


async def knn_results(state: ServerState, knn: KnnRequest) -> tuple[api.Result, ServedIndex, str]:
    served, by = split_indice(state, knn.indice_name)
    store = served.snapshot.store
    size = int(store.manifest["image_size"])
    if knn.image or knn.image_url:
        if knn.image_url and not knn.image and not state.config.allow_image_url:
            raise UsageError(
                "image_url is off on this server (start it with --allow-image-url); send the image as base64"
            )
        data = (
            decode_image(knn.image)
            if knn.image
            else await run_in_threadpool(fetch_url, knn.image_url or "", state.config.max_upload_bytes)
        )
        picture = await run_in_threadpool(api.uploaded_picture, data, "image", size)
        raw = await state.catalog.batcher(store).encode([picture])
        result = await run_in_threadpool(
            api.search_encoded, store, [picture], raw, by, knn.num_result_ids, include_query=True
        )
        return result[0], served, by
    if knn.embedding:
        vector = {by: np.asarray(knn.embedding, dtype=np.float32)}
        single: api.Result = await run_in_threadpool(
            api.search_raw, store, "embedding", vector, by, knn.num_result_ids
        )
        return single, served, by
    raise UsageError("give image (base64), image_url or embedding_input")


def without_duplicates(store: api.SearchBackend, hits: list[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    """Drop a hit whose vector has an inner product above DUPLICATE with a better-ranked kept one
    (clip back's rule; it collapses the frames of one shot)."""
    if len(hits) < 2:
        return hits
    vectors = api.result_vectors(store, [h["id"] for h in hits], by)
    kept: list[int] = []
    for i in range(len(hits)):
        if not kept or float(np.max(vectors[kept] @ vectors[i])) <= DUPLICATE:
            kept.append(i)
    return [hits[i] for i in kept]


def router(state: ServerState) -> APIRouter:
    routes = APIRouter(tags=["clip-retrieval back-end"])

    @routes.get("/indices-list", summary="clip back: the index names (NAME/MODE)")
    @routes.get("//indices-list", include_in_schema=False)
    async def indices_list() -> list[str]:
        return [f"{name}/{mode}" for name in state.catalog.indexes for mode in SEARCH_MODES]

    @routes.post("/knn-service", summary="clip back: nearest items of an image or an embedding")
    @routes.post("//knn-service", include_in_schema=False)
    async def knn_service(request: Request) -> list[dict[str, Any]]:
        knn = parse_knn(await json_body(request), state.config.max_k)
        result, served, by = await knn_results(state, knn)
        hits = result["results"]
        if knn.deduplicate:
            hits = await run_in_threadpool(without_duplicates, served.snapshot.store, hits, by)
        base = str(request.base_url)
        out = []
        for rank, hit in enumerate(hits):
            extra = metadata(hit, base, served.name) if rank < knn.num_images else {}
            out.append({**extra, "id": int(hit["id"]), "similarity": float(hit["score"])})
        return out

    @routes.post("/metadata", summary="clip back: metadata of items by id")
    @routes.post("//metadata", include_in_schema=False)
    async def metadata_service(request: Request) -> list[dict[str, Any]]:
        body = await json_body(request)
        ids = item_ids(body.get("ids") or [])
        served, _ = split_indice(state, body.get("indice_name"))
        store, base = served.snapshot.store, str(request.base_url)
        return [
            {"id": item, "metadata": metadata(api.item_row(store, item), base, served.name)} for item in ids
        ]

    return routes
