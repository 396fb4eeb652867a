"""``stylesim serve``: the long-running server (FastAPI under uvicorn)."""

from __future__ import annotations

from typing import Annotated

import typer

from stylesim.cli.app import app, at_least, choice, err, reports_errors
from stylesim.cli.options import PRECISIONS, Device, Precision, Qdrant
from stylesim.errors import UsageError

Opt = typer.Option


@app.command()
@reports_errors
def serve(
    index: Annotated[
        list[str] | None, Opt("--index", "-i", help="An index to serve, as DIR or NAME=DIR (repeatable).")
    ] = None,
    host: Annotated[str, Opt(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, Opt(help="Port to listen on.")] = 8000,
    device: Device = "auto",
    precision: Precision = "auto",
    token: Annotated[
        str | None, Opt(envvar="STYLESIM_TOKEN", help="Require Authorization: Bearer TOKEN.")
    ] = None,
    cors_origin: Annotated[
        list[str] | None, Opt(help="Allow browser pages from this origin (repeatable; * for any).")
    ] = None,
    max_upload: Annotated[str, Opt(help="Largest upload (e.g. 32M).")] = "32M",
    allow_image_url: Annotated[
        bool, Opt(help="Let clip-retrieval clients send image_url (the server fetches it).")
    ] = False,
    decoder: Annotated[str | None, Opt(help="AdaIN decoder file (default: the installed one).")] = None,
    qdrant: Qdrant = None,
    collection: Annotated[
        list[str] | None,
        Opt(help="With --qdrant: a collection written by export-qdrant, as NAME or ALIAS=NAME (repeatable)."),
    ] = None,
) -> None:
    """Serve indexes over HTTP: a web gallery at /, a JSON API (docs at /docs), and
    clip-retrieval back-end routes (/knn-service, /metadata, /indices-list)."""
    choice(precision, PRECISIONS, "--precision")
    at_least(port, 1, "--port", 65535)
    check_decoder(decoder)
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as missing:
        raise UsageError(
            f"stylesim serve needs {missing.name}, which is not installed: pip install 'stylesim[serve]'"
        ) from None

    from stylesim.api import resolve_index_dir
    from stylesim.server import ServeConfig, create_app
    from stylesim.server.config import parse_collections, parse_indexes, parse_size

    collections = parse_collections(qdrant, collection or [])
    indexes = parse_indexes(index or ([] if collections else [str(resolve_index_dir(None))]))
    config = ServeConfig(
        indexes, collections=collections, device=device, precision=precision, token=token,
        cors_origins=tuple(cors_origin or ()), max_upload_bytes=parse_size(max_upload),
        allow_image_url=allow_image_url, decoder=decoder,
    )  # fmt: skip
    server_app = create_app(config)
    served = [
        *(f"{n} ({p})" for n, p in indexes.items()),
        *(f"{n} ({q} {c})" for n, (q, c) in collections.items()),
    ]
    names = ", ".join(served)
    err.print(
        f"serving {names} on http://{host}:{port}/ (API docs: /docs){'; token required' if token else ''}"
    )
    uvicorn.run(server_app, host=host, port=port, log_level="warning")


def check_decoder(decoder: str | None) -> None:
    """UsageError at start for a --decoder that is not a file (found where restyles look)."""
    if decoder is not None:
        from stylesim.transfer.adain import decoder_path

        if not decoder_path(decoder).is_file():
            raise UsageError(f"--decoder {decoder}: no such file")
