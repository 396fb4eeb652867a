"""Indexed items as a service shows them: their metadata, their pictures (full size or as
thumbnails; a frame is cut from its video), and query pictures made from uploads, from items,
and from frames of indexed videos.

Only files that are items of the index are ever read, and only while they are the files that were
indexed (same size and modification time): a path that is not an item, or an item whose file
was replaced since (a symbolic link swapped in, an edit), is refused without being opened.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from stylesim.api.queries import QueryPicture
from stylesim.collection.decode import (
    DEFAULT_MAX_PIXELS,
    decode_bytes,
    open_image,
    read_file,
    resize_to_bucket,
)
from stylesim.collection.timecode import split_frame_reference
from stylesim.collection.video import extract_frame
from stylesim.errors import DecodeError, StylesimError
from stylesim.index.backend import SearchBackend


class ItemNotFoundError(StylesimError):
    """No such item in the index (or its file is no longer the one that was indexed)."""


def item_row(store: SearchBackend, item_id: int) -> dict[str, Any]:
    """The item's metadata (path, kind, size, width, height, and for frames video, time, frame)."""
    if not store.contains(np.array([item_id]))[0]:
        raise ItemNotFoundError(f"item {item_id}: no such item in {store.root}")
    row = store.rows(np.array([item_id])).iloc[0].to_dict()
    out = {str(k): (None if _missing(v) else v) for k, v in row.items() if not str(k).startswith("norm_")}
    out["id"] = int(item_id)
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in out.items()}


def _missing(value: object) -> bool:
    """None, NaN or pandas' NA (an empty cell of a nullable column)."""
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def item_by_path(store: SearchBackend, path: str) -> int:
    """The id of the image item at ``path`` (exactly as indexed); ItemNotFoundError otherwise."""
    rows = store.rows(store.matching("path", [path]))
    match = rows.index[rows["kind"] == "image"]
    if not len(match):
        raise ItemNotFoundError(f"{path}: not an item of {store.root}")
    return int(match[0])


def item_by_frame(store: SearchBackend, reference: str) -> int:
    """The id of the indexed frame of ``VIDEO@TIME`` nearest to TIME (the frame shown then)."""
    parsed = split_frame_reference(reference)
    if parsed is None:
        raise ItemNotFoundError(f"{reference!r}: write a frame as VIDEO@TIME")
    video, seconds = parsed
    rows = store.rows(store.matching("path", [video]))
    frames = rows[rows["kind"] == "frame"]
    if not len(frames):
        raise ItemNotFoundError(f"{video}: not a video of {store.root}")
    shown = frames[frames["time"] <= seconds + 5e-4]
    chosen = shown if len(shown) else frames
    return int(chosen.index[int(np.argmax(chosen["time"].to_numpy())) if len(shown) else 0])


def checked_file(store: SearchBackend, item_id: int) -> dict[str, Any]:
    """The item's row, once its file is known to be the one indexed (same size and mtime);
    ItemNotFoundError otherwise, without opening it."""
    row = item_row(store, item_id)
    try:
        st = os.stat(row["path"])
    except OSError:
        raise ItemNotFoundError(f"item {item_id}: its file {row['path']} is gone") from None
    if (st.st_size, st.st_mtime_ns) != (row["size"], row["mtime_ns"]):
        raise ItemNotFoundError(f"item {item_id}: its file {row['path']} changed since it was indexed")
    return row


def item_image(store: SearchBackend, item_id: int, max_side: int | None = None) -> Image.Image:
    """The item's picture (a frame cut from its video), at most ``max_side`` pixels long."""
    row = checked_file(store, item_id)
    try:
        if row["kind"] == "frame":
            image = extract_frame(row["path"], float(row["time"]))[0]
        else:
            image = open_image(read_file(row["path"]), row["path"], DEFAULT_MAX_PIXELS)[0]
    except DecodeError as err:
        raise StylesimError(f"item {item_id}: {err.reason}") from None
    if max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def item_picture(store: SearchBackend, item_id: int) -> QueryPicture:
    """An indexed item as a query picture (its own identity, so it is left out of its results)."""
    row = checked_file(store, item_id)
    size = int(store.manifest["image_size"])
    if row["kind"] == "frame":
        image, exact, _ = extract_frame(row["path"], float(row["time"]), size)
        return QueryPicture(f"{row['path']}@{exact:.3f}", np.asarray(image), row["path"], None, exact)
    image = item_image(store, item_id)
    return QueryPicture(row["path"], resize_to_bucket(image, size), row["path"], row["sha256"], None)


def uploaded_picture(data: bytes, name: str, size: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> QueryPicture:
    """A query picture from uploaded bytes (decompression bombs refused before decoding);
    StylesimError naming the upload if it is not a usable image."""
    try:
        decoded = decode_bytes(data, name, size, max_pixels)
    except DecodeError as err:
        raise StylesimError(f"{name}: cannot use as a query: {err.reason}") from None
    return QueryPicture(name, decoded.pixels, f"upload:{name}", decoded.sha256, None)


def uploaded_image(data: bytes, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The full picture of uploaded bytes (for restyling); StylesimError naming the upload."""
    try:
        return open_image(data, name, max_pixels)[0]
    except DecodeError as err:
        raise StylesimError(f"{name}: cannot use this image: {err.reason}") from None
