"""What searching asks of the place the vectors live: an index folder (``IndexStore``, FAISS
files) or an exported Qdrant collection (``index.qdrant.QdrantStore``). The search
(``index.search``) and the API's searching and item lookups take any ``SearchBackend``; fusion,
the content discount and relative style are computed above it from what it returns, so results do
not depend on the backend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from stylesim.index.manifest import Manifest

if TYPE_CHECKING:
    from stylesim.descriptors import Descriptor  # its module imports torch


class SearchBackend(Protocol):
    """The items of one collection, read-only, and nearest-neighbour search over their vectors."""

    @property
    def root(self) -> Path | str:
        """Where the collection lives (an index folder, or a description of a Qdrant
        collection): named in messages."""
        ...

    @property
    def manifest(self) -> Manifest:
        """How the vectors were made (queries are encoded with the same model)."""
        ...

    @property
    def descriptors(self) -> dict[str, Descriptor]:
        """The descriptors the collection holds, by name."""
        ...

    @property
    def fusion(self) -> dict[str, float]:
        """The ``--by style`` weights the collection was made with (its manifest's)."""
        ...

    def __len__(self) -> int:
        """The number of live items."""
        ...

    def ids(self) -> np.ndarray:
        """Every live item id, ascending."""
        ...

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Which of ``ids`` are live items (bool per id)."""
        ...

    def rows(self, ids: np.ndarray) -> pd.DataFrame:
        """Metadata of the items ``ids`` that exist, in ``ids`` order, indexed by id, with the
        columns and dtypes of ``IndexStore.item_dtypes``."""
        ...

    def matching(self, column: str, values: list[Any]) -> np.ndarray:
        """Ids (ascending) of the live items whose metadata ``column`` holds one of ``values``."""
        ...

    def vectors_of(self, name: str, ids: np.ndarray) -> np.ndarray:
        """float32 unit vectors of a descriptor, rows in ``ids`` order."""
        ...

    def scores_of(self, name: str, ids: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Inner products of one query vector with items' vectors of a descriptor, in ``ids``
        order: the exact re-scoring of candidates; for a matrix of query vectors, one row of
        products per query."""
        ...

    def nearest(
        self, space: str, queries: np.ndarray, k: int, depth: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (exact inner products, ids) per query row in a search space (``index.spaces``),
        padded with -inf / -1; ``depth`` approximate candidates are taken before the top ``k``."""
        ...

    def candidates(self, space: str, queries: np.ndarray, depth: int) -> list[np.ndarray]:
        """Per query row, ids (ascending) of up to ``depth`` near items in a space, not re-scored."""
        ...

    def relative_query(self, style: np.ndarray, content: np.ndarray, threshold: float) -> np.ndarray:
        """Relative style vectors of query rows (stacked style, content), their versions looked up
        among the items (``index.relative.query_relative``)."""
        ...

    def version_threshold(self) -> float:
        """The content cosine above which two items are versions of one picture (inf: none)."""
        ...

    def style_agreement(self) -> float | None:
        """How far the Gram matrices and colour agree about the collection (``index.agreement``),
        measured at its last commit; None for an index committed before it was measured."""
        ...

    def content_sample(self) -> np.ndarray:
        """Content vectors (rows, unit length) of a fixed random sample of the items
        (``index.relative.sample_ids`` of every id, at most TYPICAL_CONTENT_SAMPLE): what the
        content discount takes a query's typical content cosine from."""
        ...

    def prepare_queries(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Raw query vectors made as the stored ones were: standardised, then unit length."""
        ...
