"""The Python API that the CLI, the server and the evaluation stand on:

report = build_index(["~/Pictures"], "indexes/default")
results = search(["query.jpg"], "indexes/default", by="style", k=10)
facts = index_info("indexes/default")
"""

from stylesim.api.indexes import (
    DEFAULT_SIZE,
    INDEX_ENV,
    build_index,
    default_index_dir,
    index_info,
    make_extractor,
    resolve_index_dir,
)
from stylesim.api.queries import QueryPicture, encode_queries, load_queries, load_query, own_items
from stylesim.api.restyling import restyle, styles_like
from stylesim.api.searching import (
    Result,
    search,
    search_pictures,
    search_style_and_content,
    style_and_content,
)
from stylesim.api.training import train_decoder, training_settings

__all__ = [
    "DEFAULT_SIZE",
    "INDEX_ENV",
    "QueryPicture",
    "Result",
    "build_index",
    "default_index_dir",
    "encode_queries",
    "index_info",
    "load_queries",
    "load_query",
    "make_extractor",
    "own_items",
    "resolve_index_dir",
    "restyle",
    "search",
    "search_pictures",
    "search_style_and_content",
    "style_and_content",
    "styles_like",
    "train_decoder",
    "training_settings",
]
