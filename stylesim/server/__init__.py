"""``stylesim serve``: the long-running service. Indexes and the model are loaded once; many
clients are served at once; a web gallery at /, a native JSON API, clip-retrieval compatible
routes, OpenAPI docs at /docs. The server stands on ``stylesim.api`` alone."""

from stylesim.server.app import create_app
from stylesim.server.config import ServeConfig

__all__ = ["ServeConfig", "create_app"]
