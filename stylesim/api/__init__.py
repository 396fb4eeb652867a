"""The Python API that the CLI, the server and the evaluation stand on:

report = build_index(["~/Pictures"], "indexes/default")
results = search(["query.jpg"], "indexes/default", by="style", k=10)
facts = index_info("indexes/default")

Attributes are imported on first use (PEP 562): ``from stylesim import api`` costs nothing, and
torch is imported only by what needs the model, so the CLI answers usage errors, ``--help`` and
``info`` without it. The imports under ``TYPE_CHECKING`` below are the one list of what this
module offers: type checkers read them, and ``__getattr__`` finds a name's module in them.
"""

from __future__ import annotations

import ast
import importlib
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stylesim.api.exporting import collection_info, export_qdrant, open_qdrant
    from stylesim.api.indexes import (
        DEFAULT_SIZE,
        INDEX_ENV,
        build_index,
        current_generation,
        default_index_dir,
        index_info,
        make_extractor,
        open_index,
        resolve_index_dir,
    )
    from stylesim.api.items import (
        ItemNotFoundError,
        item_by_frame,
        item_by_path,
        item_image,
        item_picture,
        item_row,
        uploaded_image,
        uploaded_picture,
    )
    from stylesim.api.maintenance import CompactReport, PruneReport, compact_index, prune_index
    from stylesim.api.queries import QueryPicture, encode_queries, load_queries, load_query, own_items
    from stylesim.api.restyling import Restyler, restyle, styles_like
    from stylesim.api.searching import (
        Result,
        result_vectors,
        search,
        search_encoded,
        search_items,
        search_pictures,
        search_raw,
        search_style_and_content,
        style_and_content,
    )
    from stylesim.api.training import recorded_ema, train_decoder, training_settings
    from stylesim.collection.decode import DEFAULT_MAX_PIXELS
    from stylesim.collection.timecode import format_time
    from stylesim.descriptors.extract import DescriptorExtractor
    from stylesim.index.backend import SearchBackend
    from stylesim.index.store import IndexStore
    from stylesim.transfer.gatys import GatysSettings
    from stylesim.transfer.restyle import RestyleSettings, method_resolved


@cache
def exported() -> dict[str, str]:
    """Each public name and the module it comes from, read from the ``TYPE_CHECKING`` imports."""
    tree = ast.parse(Path(__file__).read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If))
    return {
        alias.name: str(node.module)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def __getattr__(name: str) -> Any:
    module = exported().get(name)
    if module is None:
        raise AttributeError(f"module 'stylesim.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # found once
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *exported()])


__all__ = [
    "CompactReport",
    "PruneReport",
    "compact_index",
    "prune_index",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_SIZE",
    "DescriptorExtractor",
    "GatysSettings",
    "RestyleSettings",
    "INDEX_ENV",
    "IndexStore",
    "ItemNotFoundError",
    "QueryPicture",
    "Restyler",
    "method_resolved",
    "Result",
    "SearchBackend",
    "build_index",
    "collection_info",
    "current_generation",
    "default_index_dir",
    "encode_queries",
    "export_qdrant",
    "format_time",
    "index_info",
    "item_by_frame",
    "item_by_path",
    "item_image",
    "item_picture",
    "item_row",
    "load_queries",
    "load_query",
    "make_extractor",
    "open_index",
    "open_qdrant",
    "own_items",
    "resolve_index_dir",
    "restyle",
    "search",
    "search_encoded",
    "search_items",
    "result_vectors",
    "search_pictures",
    "search_raw",
    "search_style_and_content",
    "style_and_content",
    "styles_like",
    "recorded_ema",
    "train_decoder",
    "training_settings",
    "uploaded_image",
    "uploaded_picture",
]
