"""The FastAPI application of ``stylesim serve``: state (indexes, model, jobs), guards (token,
upload size, CORS) and error replies. Routes: ``server.routes`` (native API and gallery) and
``server.clipback`` (clip-retrieval back-end compatible).

Every error is a JSON object ``{"error": "one line"}`` with a 4xx status for what the request got
wrong (400 bad value or unusable image, 401 no token, 404 unknown item/index/path, 413 upload too
large) and 500 for our own failures; the server keeps serving either way.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from stylesim import __version__, api
from stylesim.errors import StylesimError
from stylesim.server.config import ServeConfig
from stylesim.server.indexes import Catalog, UnknownIndexError
from stylesim.server.jobs import RestyleJobs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]
OPEN_PATHS = ("/health", "/", "/static/", "/favicon.ico")  # no data: public even with a token


@dataclass
class ServerState:
    config: ServeConfig
    catalog: Catalog
    restyler: api.Restyler
    jobs: RestyleJobs


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": message.strip().splitlines()[0] if message.strip() else "error"}, status_code=status
    )


def status_of(error: StylesimError) -> int:
    if isinstance(error, (api.ItemNotFoundError, UnknownIndexError)):
        return 404
    return 400  # a value, an image or a request that cannot be used


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StylesimError)
    async def stylesim_error(request: Request, error: StylesimError) -> JSONResponse:
        return error_response(status_of(error), str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return error_response(400, f"{where}: {first.get('msg', 'not valid').lower()}")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        return error_response(500, f"unexpected {type(error).__name__}: {error}")


class Guard:
    """ASGI middleware: the token (``Authorization: Bearer T``, or ``?access_token=T`` for image
    tags, RFC 6750) on every data route, and the upload limit (413) before the route sees the
    body: a declared Content-Length at once, a chunked body once its bytes pass the limit."""

    def __init__(self, app: ASGIApp, token: str | None, max_bytes: int) -> None:
        self.app, self.token, self.max_bytes = app, token, max_bytes

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if (
            self.token and request.method != "OPTIONS" and not self._authorised(request)
        ):  # preflights carry no token
            await error_response(401, "a token is required: send Authorization: Bearer TOKEN")(
                scope, receive, send
            )
            return
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            await error_response(
                413, f"upload of {int(length)} bytes is over the {self.max_bytes} byte limit"
            )(scope, receive, send)
            return
        if length is None and request.method in ("POST", "PUT", "PATCH"):  # chunked: no length given
            messages = await self._body_within_limit(receive)
            if messages is None:
                await error_response(413, f"upload is over the {self.max_bytes} byte limit")(
                    scope, receive, send
                )
                return
            receive = replayed(messages, receive)
        await self.app(scope, receive, send)

    def _authorised(self, request: Request) -> bool:
        path = request.url.path
        if path == "/" or any(path.startswith(p) for p in OPEN_PATHS if p != "/"):
            return True
        given = request.headers.get("authorization", "").removeprefix(
            "Bearer "
        ).strip() or request.query_params.get("access_token", "")
        return hmac.compare_digest(given.encode(), (self.token or "").encode())

    async def _body_within_limit(self, receive: Callable[[], Awaitable[Message]]) -> list[Message] | None:
        """The body's messages read to its end, or None once they pass the limit (the server
        enforces a declared Content-Length itself; only a chunked body needs reading first)."""
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":  # the client went away
                return messages
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                return None
            if not message.get("more_body", False):
                return messages


def replayed(
    messages: list[Message], receive: Callable[[], Awaitable[Message]]
) -> Callable[[], Awaitable[Message]]:
    """``receive`` that hands out ``messages`` first (a body already read), then the live ones."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


def create_app(config: ServeConfig) -> FastAPI:
    """The application serving ``config.indexes`` (opened read-only now; the model loads at the
    first query that needs it)."""
    from stylesim.server import clipback, routes

    catalog = Catalog(config)
    restyler = api.Restyler(config.device, config.decoder)
    state = ServerState(config, catalog, restyler, RestyleJobs(restyler, config.gatys_workers))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        catalog.start()
        yield
        catalog.stop()
        state.jobs.close()

    app = FastAPI(
        title="stylesim",
        version=__version__,
        lifespan=lifespan,
        description="Style and content search over indexed images and videos.",
    )
    app.state.stylesim = state
    install_error_handlers(app)
    app.include_router(routes.router(state))
    app.include_router(clipback.router(state))
    app.add_middleware(Guard, token=config.token, max_bytes=config.max_upload_bytes)
    if config.cors_origins:  # outermost: error replies (401, 413) carry the CORS headers too
        origins = list(config.cors_origins)
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["*"], allow_headers=["*"])
    return app
