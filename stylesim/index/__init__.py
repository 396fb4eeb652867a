"""Storage (one FAISS index per descriptor + parquet metadata + manifest, generations committed
atomically, a writer lock, a journal of pending batches) and search (per descriptor or fused)."""

from stylesim.index.manifest import FORMAT_VERSION, build_manifest
from stylesim.index.search import Hit, search_vectors
from stylesim.index.store import IndexStore

__all__ = ["FORMAT_VERSION", "build_manifest", "IndexStore", "Hit", "search_vectors"]
