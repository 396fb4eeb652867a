"""Qdrant as a serving backend: export an index into a Qdrant collection, and open a collection
for searching (``search(..., backend=open_qdrant(URL, NAME))``). ``qdrant`` is a server URL
(http:// or https://; its API key from $QDRANT_API_KEY), a local-mode folder, or ":memory:".
The collection's layout is described in ``stylesim.index.qdrant``."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylesim.api.indexes import resolve_index_dir
from stylesim.errors import UsageError
from stylesim.index.backend import SearchBackend
from stylesim.index.search import content_discount, fusion_weights
from stylesim.index.store import IndexStore

if TYPE_CHECKING:
    from stylesim.index.qdrant import ExportReport, QdrantStore

MISSING_CLIENT = "--qdrant needs qdrant-client: pip install 'stylesim[qdrant]'"


def require_qdrant_client() -> None:
    """UsageError in one line when qdrant-client is not installed."""
    if importlib.util.find_spec("qdrant_client") is None:
        raise UsageError(MISSING_CLIENT)


def open_qdrant(qdrant: str, collection: str, exact: bool = False) -> QdrantStore:
    """The exported collection ``collection`` of ``qdrant`` as a search backend (read-only; close
    it, or use it in a ``with`` block). A server searches its HNSW graph unless ``exact``."""
    require_qdrant_client()
    from stylesim.index.qdrant import QdrantStore

    return QdrantStore.open(qdrant, collection, exact)


def export_qdrant(
    qdrant: str,
    collection: str,
    index: str | Path | None = None,
    batch: int = 256,
    on_plan: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ExportReport:
    """Write every live item of the index into the Qdrant collection ``collection`` (created when
    missing): one point per item with its vectors and metadata, plus the record a search needs
    (manifest, standardisation, version threshold). ``batch`` items are written at a time; running
    it again resumes an interrupted export, or brings the collection up to a newer state of the
    index. ``on_plan`` gets the number of items to write, ``on_progress`` each batch's count."""
    if batch < 1:
        raise UsageError(f"--batch {batch}: give 1 or more")
    require_qdrant_client()
    from stylesim.index import qdrant as backend

    store = IndexStore.open(resolve_index_dir(index))
    client = backend.connect(qdrant, create=True)
    try:
        return backend.export(store, client, collection, batch, on_plan, on_progress)
    finally:
        client.close()


def collection_info(backend: SearchBackend) -> dict[str, Any]:
    """What a search backend holds, as far as ``index_info`` can say without an index folder:
    where it is, how its vectors were made, its items, descriptors and style fusion."""
    manifest = backend.manifest
    style = {**fusion_weights("style", backend), "content_discount": content_discount("style", backend)}
    return {
        "index": str(backend.root),
        **{key: manifest[key] for key in ("format_version", "model", "weights", "image_size")},
        "precision": manifest.get("precision", "fp32"),
        "items": len(backend),
        "descriptors": {name: {**d.config(), "dim": d.dim} for name, d in backend.descriptors.items()},
        "search_modes": {"style": style},
    }
