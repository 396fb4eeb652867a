"""Restyling through the API: styles given as files, or retrieved from an index by a query."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from stylesim.api.indexes import make_extractor, resolve_index_dir
from stylesim.api.queries import QueryPicture, encode_queries, load_queries, own_items
from stylesim.api.searching import hit_results
from stylesim.encoding import VGG19Encoder
from stylesim.errors import StylesimError
from stylesim.index.search import Hit, query_descriptors, search_vectors
from stylesim.index.store import IndexStore
from stylesim.transfer.adain import AdaINDecoder, DecoderMissingError
from stylesim.transfer.gatys import StepCallback
from stylesim.transfer.restyle import (
    Job,
    RestyleOutput,
    RestyleSettings,
    StyleRef,
    method_resolved,
    prepare_models,
    render,
    retrieved_style,
)
from stylesim.transfer.restyle import restyle as run_restyle


def styles_like(
    query: str, index: str | Path | None, top: int, contents: Sequence[str] = (), device: str = "auto"
) -> list[StyleRef]:
    """The ``top`` indexed images (or video frames) nearest to ``query`` by style, to render
    ``contents`` with: styles of *other* pictures. Passed over: the query, the contents, exact
    copies of them, and the items that show one of their pictures (``shows_a_picture``)."""
    store = IndexStore.open(resolve_index_dir(index))
    pictures, errors = load_queries([query, *contents], int(store.manifest["image_size"]))
    if errors:
        raise StylesimError(next(iter(errors.values())))
    usable = [p for p in pictures if p is not None]
    raw = encode_queries(usable, make_extractor(store.manifest, device))
    vectors = store.prepare_queries({n: raw[n] for n in query_descriptors("style", store)})
    refs = [
        retrieved_style(result) for result in hit_results(store, other_pictures(store, usable, vectors, top))
    ]
    if not refs:
        raise StylesimError(f"{query}: the index holds no other picture to take a style from")
    return refs


def other_pictures(
    store: IndexStore, pictures: list[QueryPicture], vectors: dict[str, np.ndarray], top: int
) -> list[Hit]:
    """The ``top`` style hits of the first picture that show none of the pictures."""
    own: set[int] = set().union(*(own_items(store, p) for p in pictures))
    threshold = store.version_threshold()
    versions = own | versions_of(store, vectors["content"], threshold)
    query = {n: v[:1] for n, v in vectors.items()}
    depth = top + len(versions) + 16
    while True:
        hits = search_vectors(store, query, "style", min(depth, len(store)), exclude=[versions])[0]
        shown = shows_a_picture(store, [h.id for h in hits], vectors["content"], versions, threshold)
        keep = [h for h, same in zip(hits, shown, strict=True) if not same]
        if len(keep) >= top or depth >= len(store):
            return keep[:top]
        depth *= 4


def versions_of(store: IndexStore, content: np.ndarray, threshold: float) -> set[int]:
    """Items whose content cosine with one of the pictures (rows of ``content``) is above the
    collection's version threshold (the rule of ``--by style-relative``)."""
    found = store.nearest("content", content, min(len(store), 64))
    return {
        int(i)
        for sims, ids in zip(*found, strict=True)
        for s, i in zip(sims, ids, strict=True)
        if i >= 0 and s > threshold
    }


def shows_a_picture(
    store: IndexStore, ids: list[int], content: np.ndarray, versions: set[int], threshold: float
) -> list[bool]:
    """For each item: does it show one of the pictures? Yes when its content cosine with one is
    above the threshold, or when its nearest other item by content is one of the pictures (or a
    version of one): weak versions (a pencil drawing of a photo) fall below the collection's
    threshold but stay closer to their picture than to anything else."""
    if not ids:
        return []
    x = store.vectors_of("content", np.array(ids, dtype=np.int64))
    to_pictures = (x @ content.T).max(axis=1)
    sims, nearest = store.nearest("content", x, min(len(store), 2))
    out = []
    for item, picture_sim, row_s, row_i in zip(ids, to_pictures, sims, nearest, strict=True):
        other = [(float(s), int(i)) for s, i in zip(row_s, row_i, strict=True) if int(i) not in (item, -1)]
        best_sim, best = other[0] if other else (-1.0, -1)
        out.append(bool(picture_sim > threshold or picture_sim >= best_sim or best in versions))
    return out


def restyle(
    contents: Sequence[str],
    style_sets: Sequence[Sequence[StyleRef]],
    style_weights: Sequence[float] | None,
    settings: RestyleSettings,
    on_job: Callable[[int, int, str], None] | None = None,
    on_step: StepCallback | None = None,
) -> tuple[list[RestyleOutput], Path]:
    """Render every content in every style set (``transfer.restyle``); returns the outputs and the
    contact sheet."""
    return run_restyle(contents, style_sets, style_weights, settings, on_job, on_step)


class Restyler:
    """Models loaded once for many restyles (the server keeps one): the encoder for Gatys, and
    for AdaIN the verified decoder with the encoder it was trained against."""

    def __init__(self, device: str = "auto", decoder: str | None = None) -> None:
        self.device, self.decoder = device, decoder
        self.models: dict[str, tuple[VGG19Encoder, AdaINDecoder | None]] = {}
        self.lock = threading.Lock()

    def _models(self, method: str) -> tuple[VGG19Encoder, AdaINDecoder | None]:
        with self.lock:
            if method not in self.models:
                self.models[method] = prepare_models(
                    RestyleSettings(method=method, decoder=self.decoder, device=self.device)
                )
            return self.models[method]

    def adain_available(self) -> bool:
        """Whether a verified AdaIN decoder is installed (loads it once)."""
        try:
            self._models("adain")
        except DecoderMissingError:
            return False
        return True

    def render(
        self,
        content: Image.Image,
        styles: list[Image.Image],
        settings: RestyleSettings,
        on_step: StepCallback | None = None,
    ) -> Image.Image:
        """``content`` in the blend of ``styles`` as ``settings`` say (method, size, alpha, steps...)."""
        settings = method_resolved(settings)
        encoder, decoder = self._models(settings.method)
        refs = [StyleRef(f"style {i}", f"style{i}", image=image) for i, image in enumerate(styles)]
        job = Job("content", content, refs, [1.0] * len(refs), "result.png")
        return render(job, encoder, decoder, settings, None, on_step)
