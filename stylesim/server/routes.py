"""The native JSON API and the gallery page. Results have the schema of ``stylesim search
--format json``: one object per query, in query order (``server.queries`` for the query
grammar). OpenAPI documentation at /docs."""

from __future__ import annotations

import io
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from stylesim import __version__, api
from stylesim.errors import UsageError
from stylesim.server.app import ServerState
from stylesim.server.queries import Upload, bounded_k, image_of, parse_spec, pictures_of, search_mode

STATIC = resources.files("stylesim.server") / "static"
MAX_THUMBNAIL = 1024


async def read_uploads(files: list[UploadFile] | None) -> list[Upload]:
    return [Upload(f.filename or f"upload-{i}", await f.read()) for i, f in enumerate(files or [])]


async def run_queries(
    state: ServerState, index: str | None, specs: list[str], uploads: list[Upload], options: dict[str, Any]
) -> list[api.Result]:
    """Results for ``specs`` in order: indexed items from their stored vectors, uploads encoded in
    shared batches (``server.encoder``)."""
    store = state.catalog.get(index).snapshot.store  # kept to the end of the request
    targets = [parse_spec(s, store, uploads) for s in specs]
    items = [t for t in targets if isinstance(t, int)]
    files = [t for t in targets if isinstance(t, Upload)]
    by_item = await run_in_threadpool(api.search_items, store, items, **options) if items else []
    by_file: list[api.Result] = []
    if files:
        pictures = await pictures_of(files, int(store.manifest["image_size"]), api.DEFAULT_MAX_PIXELS)
        raw = await state.catalog.batcher(store).encode(pictures)
        by_file = await run_in_threadpool(api.search_encoded, store, pictures, raw, **options)
    answers = {"item": iter(by_item), "file": iter(by_file)}
    return [next(answers["item" if isinstance(t, int) else "file"]) for t in targets]


async def run_pair(
    state: ServerState,
    index: str | None,
    style_of: str,
    content_of: str,
    uploads: list[Upload],
    k: int,
    mix: float,
) -> api.Result:
    """``style_of`` A x ``content_of`` B."""
    if not 0.0 <= mix <= 1.0:
        raise UsageError(f"mix {mix}: give a number between 0 and 1")
    store = state.catalog.get(index).snapshot.store
    pictures = []
    for spec in (style_of, content_of):
        target = parse_spec(spec, store, uploads)
        if isinstance(target, int):
            pictures.append(await run_in_threadpool(api.item_picture, store, target))
        else:
            pictures += await pictures_of([target], int(store.manifest["image_size"]), api.DEFAULT_MAX_PIXELS)
    extractor = state.catalog.batcher(store).extractor
    return await run_in_threadpool(api.style_and_content, store, extractor, pictures[0], pictures[1], k, mix)


def router(state: ServerState) -> APIRouter:
    routes = APIRouter()
    add_search_routes(routes, state)
    add_item_routes(routes, state)
    add_restyle_routes(routes, state)
    add_page_routes(routes, state)
    return routes


def add_search_routes(routes: APIRouter, state: ServerState) -> None:
    max_k = state.config.max_k

    @routes.post("/search", summary="Search by uploaded images, indexed items, paths or video frames")
    async def search_post(
        q: Annotated[
            list[str] | None, Form(description="Queries: id:N, path:PATH, frame:VIDEO@TIME, file:N")
        ] = None,
        file: Annotated[list[UploadFile] | None, File(description="Uploaded query images")] = None,
        by: Annotated[str, Form()] = "style",
        k: Annotated[int, Form()] = 10,
        group_by: Annotated[str | None, Form()] = None,
        moments: Annotated[int, Form()] = 3,
        include_query: Annotated[bool, Form()] = False,
        style_of: Annotated[
            str | None, Form(description="With content_of: items in this query's style...")
        ] = None,
        content_of: Annotated[str | None, Form(description="...that show what this query shows")] = None,
        mix: Annotated[float, Form()] = 0.5,
        index: Annotated[str | None, Form()] = None,
    ) -> list[api.Result]:
        uploads = await read_uploads(file)
        if style_of or content_of:
            if not (style_of and content_of):
                raise UsageError("style_of and content_of go together")
            return [await run_pair(state, index, style_of, content_of, uploads, bounded_k(k, max_k), mix)]
        specs = q or [f"file:{i}" for i in range(len(uploads))]
        if not specs:
            raise UsageError("give queries: q=id:N (or path:, frame:), or upload files")
        options = search_options(by, k, group_by, moments, include_query, max_k)
        return await run_queries(state, index, specs, uploads, options)

    @routes.get("/search", summary="Search by indexed items (no upload)")
    async def search_get(
        q: Annotated[list[str], Query(description="id:N, path:PATH or frame:VIDEO@TIME (repeatable)")],
        by: str = "style", k: int = 10, group_by: str | None = None, moments: int = 3,
        include_query: bool = False, index: str | None = None,
    ) -> list[api.Result]:  # fmt: skip
        return await run_queries(
            state, index, q, [], search_options(by, k, group_by, moments, include_query, max_k)
        )


def search_options(
    by: str, k: int, group_by: str | None, moments: int, include_query: bool, max_k: int
) -> dict[str, Any]:
    if group_by not in (None, "", "video"):
        raise UsageError(f"group_by {group_by!r}: use video")
    if moments < 1:
        raise UsageError(f"moments {moments}: give 1 or more")
    return {
        "by": search_mode(by),
        "k": bounded_k(k, max_k),
        "group_by": group_by or None,
        "moments": moments,
        "include_query": include_query,
    }


def add_item_routes(routes: APIRouter, state: ServerState) -> None:
    @lru_cache(maxsize=1024)
    def thumbnail(index: str, generation: str | None, item: int, size: int) -> bytes:
        store = state.catalog.get(index).snapshot.store
        image = api.item_image(store, item, size)
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=85)
        return buffer.getvalue()

    @routes.get("/items/{item}", summary="An indexed item's metadata")
    async def item(item: int, index: str | None = None) -> dict[str, Any]:
        return api.item_row(state.catalog.get(index).snapshot.store, item)

    @routes.get("/items/{item}/image", summary="An item's picture as a JPEG (a frame is cut from its video)")
    async def item_picture(item: int, size: int = 256, index: str | None = None) -> Response:
        if not 16 <= size <= MAX_THUMBNAIL:
            raise UsageError(f"size {size}: give 16 to {MAX_THUMBNAIL} pixels")
        served = state.catalog.get(index)
        data = await run_in_threadpool(thumbnail, served.name, served.snapshot.generation, item, size)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    @routes.get("/info", summary="What an index holds")
    async def info(index: str | None = None) -> dict[str, Any]:
        return await run_in_threadpool(state.catalog.get(index).info)

    @routes.get("/health", summary="Liveness (no token needed)")
    async def health() -> dict[str, Any]:
        indexes = {
            n: {"items": len(s.snapshot.store), "generation": s.snapshot.generation}
            for n, s in state.catalog.indexes.items()
        }
        return {"status": "ok", "version": __version__, "indexes": indexes}


def add_restyle_routes(routes: APIRouter, state: ServerState) -> None:
    @routes.post("/restyle", summary="Restyle a picture: AdaIN answers at once, Gatys runs as a job")
    async def restyle(
        content: Annotated[str, Form(description="id:N, path:PATH, frame:VIDEO@TIME or file:N")],
        style: Annotated[list[str], Form(description="Style queries (repeatable: blended)")],
        file: Annotated[list[UploadFile] | None, File()] = None,
        method: Annotated[
            str, Form(description="auto (AdaIN with a decoder or alpha below 1, else Gatys), adain or gatys")
        ] = "auto",
        size: Annotated[int, Form()] = 512,
        alpha: Annotated[float, Form()] = 1.0,
        steps: Annotated[int, Form()] = 200,
        index: Annotated[str | None, Form()] = None,
    ) -> Response:
        from stylesim.server.restyle import restyle_request

        uploads = await read_uploads(file)
        store = state.catalog.get(index).snapshot.store
        targets = [parse_spec(s, store, uploads) for s in [content, *style]]
        pictures = await run_in_threadpool(  # decoding (video frames too) off the event loop
            lambda: [image_of(t, store, api.DEFAULT_MAX_PIXELS) for t in targets]
        )
        return await restyle_request(state, pictures[0], pictures[1:], method, size, alpha, steps)

    @routes.get("/jobs/{job_id}", summary="A Gatys job's status and progress")
    async def job(job_id: str) -> Any:
        found = state.jobs.get(job_id)
        if found is None:
            return JSONResponse({"error": f"job {job_id}: no such job"}, status_code=404)
        return state.jobs.describe(found)

    @routes.get("/jobs/{job_id}/image", summary="A finished job's image (PNG)")
    async def job_image(job_id: str) -> Response:
        found = state.jobs.get(job_id)
        if found is None or found.png is None:
            return JSONResponse({"error": f"job {job_id}: no image (yet)"}, status_code=404)
        return Response(found.png, media_type="image/png")


def add_page_routes(routes: APIRouter, state: ServerState) -> None:
    @routes.get("/", include_in_schema=False)
    async def gallery() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @routes.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in {p.name for p in STATIC.iterdir()}:
            return JSONResponse({"error": f"{name}: no such file"}, status_code=404)
        return FileResponse(str(STATIC / name))

    @routes.get("/indexes", summary="The indexes served, by name")
    async def indexes() -> dict[str, Any]:
        return {
            "indexes": [
                {"name": n, "items": len(s.snapshot.store), "default": i == 0}
                for i, (n, s) in enumerate(state.catalog.indexes.items())
            ],
            "adain": await run_in_threadpool(state.restyler.adain_available),
        }
