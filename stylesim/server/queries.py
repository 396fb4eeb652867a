"""What a request asks for, in one grammar for every route: a query is ``id:17`` (an indexed item),
``path:/photos/x.jpg`` (an indexed image, exactly as indexed), ``frame:talk.mp4@00:01:05`` (the
indexed frame of a video shown at that time), or ``file:0`` (the first uploaded file). Indexed
items are searched from their stored vectors; only uploads go through the network."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image
from starlette.concurrency import run_in_threadpool

from stylesim import api
from stylesim.errors import UsageError

SEARCH_MODES = ("style", "style-relative", "gram", "adain", "content", "colour")


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


def parse_spec(spec: str, store: api.SearchBackend, uploads: list[Upload]) -> int | Upload:
    """An item id, or the upload a ``file:N`` spec names (module docstring)."""
    kind, sep, value = spec.partition(":")
    if not sep or kind not in ("id", "path", "frame", "file"):
        raise UsageError(f"query {spec!r}: write id:N, path:PATH, frame:VIDEO@TIME or file:N")
    if kind == "file":
        number = _number(value, spec)
        if not 0 <= number < len(uploads):
            raise UsageError(f"query {spec!r}: {len(uploads)} files were uploaded")
        return uploads[number]
    if kind == "id":
        item = _number(value, spec)
        api.item_row(store, item)  # ItemNotFoundError (404) for an unknown id
        return item
    return api.item_by_path(store, value) if kind == "path" else api.item_by_frame(store, value)


def _number(text: str, spec: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"query {spec!r}: {text!r} is not a number") from None


def search_mode(by: str) -> str:
    if by not in SEARCH_MODES:
        raise UsageError(f"by {by!r}: use one of {', '.join(SEARCH_MODES)}")
    return by


def bounded_k(k: int, max_k: int) -> int:
    """``k`` capped at ``max_k``; UsageError for k < 1."""
    if k < 1:
        raise UsageError(f"k {k}: give 1 or more")
    return min(k, max_k)


async def pictures_of(uploads: list[Upload], size: int, max_pixels: int) -> list[api.QueryPicture]:
    """Uploads decoded for the encoder (decompression bombs refused before decoding), off the loop."""
    return [await run_in_threadpool(api.uploaded_picture, u.data, u.name, size, max_pixels) for u in uploads]


def image_of(target: int | Upload, store: api.SearchBackend, max_pixels: int) -> Image.Image:
    """The full picture of an item or an upload (for restyling)."""
    if isinstance(target, int):
        return api.item_image(store, target)
    return api.uploaded_image(target.data, target.name, max_pixels)
