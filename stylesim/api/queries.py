"""Query pictures: an image file or a frame ``VIDEO@TIME``, decoded for the encoder and knowing
its own identity (its file, the sha256 of its bytes, its time in the video), so a search can
leave the query itself and exact copies of it out of the results."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from stylesim.collection.decode import decode_for_encoding
from stylesim.collection.video import extract_frame, resolve_picture
from stylesim.collection.walk import VIDEO_EXTENSIONS
from stylesim.descriptors.extract import DescriptorExtractor
from stylesim.encoding import default_batch_size
from stylesim.encoding.batches import ShapeBatcher
from stylesim.errors import DecodeError, StylesimError
from stylesim.index.backend import SearchBackend

FRAME_TOLERANCE = 5e-4  # seconds: results print times to the millisecond


@dataclass
class QueryPicture:
    spec: str  # as the user wrote it
    pixels: np.ndarray  # (H, W, 3) uint8 at the encoder input shape
    path: str  # absolute path of the image, or of the video for a frame
    sha256: str | None  # of the image file's bytes (None for a frame)
    time: float | None  # seconds, for a frame


def load_query(spec: str, size: int) -> QueryPicture:
    """The query picture ``spec`` at the encoder input for ``size``; StylesimError naming the
    query if it cannot be used."""
    reference = resolve_picture(spec, "query image")
    if reference is None and os.path.splitext(spec)[1].lower() in VIDEO_EXTENSIONS:
        raise StylesimError(
            f"{spec}: is a video; query one of its frames as {spec}@TIME (e.g. {spec}@00:00:05)"
        )
    try:
        if reference is not None:
            video, seconds = reference
            image, exact, _ = extract_frame(video, seconds, size)
            return QueryPicture(spec, np.asarray(image), os.path.abspath(video), None, exact)
        decoded = decode_for_encoding(spec, size)
    except DecodeError as err:
        raise StylesimError(f"{spec}: cannot use as a query: {err.reason}") from None
    return QueryPicture(spec, decoded.pixels, os.path.abspath(spec), decoded.sha256, None)


def load_queries(specs: list[str], size: int) -> tuple[list[QueryPicture | None], dict[int, str]]:
    """Every query that can be loaded (None for the others), and the error of each that cannot."""
    pictures: list[QueryPicture | None] = []
    errors: dict[int, str] = {}
    for i, spec in enumerate(specs):
        try:
            pictures.append(load_query(spec, size))
        except StylesimError as err:
            pictures.append(None)
            errors[i] = str(err)
    return pictures, errors


def encode_queries(
    pictures: list[QueryPicture], extractor: DescriptorExtractor, batch_size: int | None = None
) -> dict[str, np.ndarray]:
    """Raw descriptor vectors of the query pictures, rows in their order (one model pass per
    batch of pictures of one input shape)."""
    batcher: ShapeBatcher[int] = ShapeBatcher(batch_size or default_batch_size(extractor.encoder.device))
    batches = [batch for i, q in enumerate(pictures) if (batch := batcher.add(i, q.pixels.shape[:2]))]
    out: dict[str, np.ndarray] = {}
    for chunk in batches + batcher.drain():
        raw = extractor(np.stack([pictures[i].pixels for i in chunk]))
        for name, vectors in raw.items():
            out.setdefault(name, np.zeros((len(pictures), vectors.shape[1]), np.float32))[chunk] = vectors
    return out


def own_items(store: SearchBackend, query: QueryPicture) -> set[int]:
    """Ids of the query itself in the index and of exact copies of its file (same bytes); for a
    frame, the indexed frame of that video at that time."""
    candidates = store.matching("path", [query.path])
    if query.time is None and query.sha256:
        candidates = np.union1d(candidates, store.matching("sha256", [query.sha256]))
    items = store.rows(candidates)
    if query.time is None:
        same = (items["path"] == query.path) | (
            (items["kind"] == "image") & (items["sha256"] == query.sha256)
        )
    else:
        same = (items["path"] == query.path) & ((items["time"] - query.time).abs() < FRAME_TOLERANCE)
    return {int(i) for i in items.index[same.fillna(False).to_numpy(bool)]}
