"""The indexes a server holds open: each one read-only, switched to a newly committed
generation (a concurrent ``stylesim index`` run) by a watcher thread between requests. A request
takes the current snapshot when it starts and keeps it to the end, so a switch never happens
mid-request, and a generation that cannot be read yet (a commit in progress) is simply tried
again later: no request fails because of it. Exported Qdrant collections are served as they are
(``stylesim export-qdrant`` updates them in place)."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stylesim import api
from stylesim.errors import StylesimError, UsageError
from stylesim.server.config import ServeConfig
from stylesim.server.encoder import QueryBatcher

log = logging.getLogger("stylesim.server")


@dataclass(frozen=True)
class Snapshot:
    store: api.SearchBackend
    generation: str | None


class UnknownIndexError(StylesimError):
    """A request names an index the server does not serve."""


class ServedIndex:
    def __init__(self, name: str, root: Path) -> None:
        self.name, self.root = name, root
        self.snapshot = Snapshot(api.open_index(root), api.current_generation(root))

    def refresh(self) -> bool:
        """Switch to the committed generation if it changed; True if it did."""
        generation = api.current_generation(self.root)
        if generation == self.snapshot.generation:
            return False
        try:
            store = api.open_index(self.root)
        except (StylesimError, OSError):
            return False  # a commit in progress: the next look will find it complete
        self.snapshot = Snapshot(store, generation)
        return True

    def info(self) -> dict[str, Any]:
        """What the index holds (``api.index_info``)."""
        return api.index_info(self.root)

    def close(self) -> None:
        """Nothing to release: the index folder's files are memory-mapped."""


class ServedCollection(ServedIndex):
    """An exported Qdrant collection (``api.open_qdrant``), served as it is (it has no folder to
    open or watch, so ``ServedIndex.__init__`` is not called)."""

    def __init__(self, name: str, qdrant: str, collection: str) -> None:
        self.name, self.store = name, api.open_qdrant(qdrant, collection)
        self.snapshot = Snapshot(self.store, None)

    def refresh(self) -> bool:
        return False

    def info(self) -> dict[str, Any]:
        return api.collection_info(self.snapshot.store)

    def close(self) -> None:
        self.store.close()


class Catalog:
    """The served indexes by name, their watcher, and one query batcher per distinct encoder
    (indexes built with the same weights and settings share one model)."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.indexes = {name: ServedIndex(name, root) for name, root in config.indexes.items()}
        for name, (qdrant, collection) in config.collections.items():
            if name in self.indexes:
                raise UsageError(f"--collection {collection}: the name {name!r} is already taken")
            self.indexes[name] = ServedCollection(name, qdrant, collection)
        self.batchers: dict[str, QueryBatcher] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.watcher = threading.Thread(target=self._watch, name="index-watcher", daemon=True)

    def start(self) -> None:
        self.watcher.start()

    def stop(self) -> None:
        self.stopped.set()
        for batcher in self.batchers.values():
            batcher.close()
        for served in self.indexes.values():
            served.close()

    def _watch(self) -> None:
        while not self.stopped.wait(self.config.reload_seconds):
            for served in self.indexes.values():
                try:
                    served.refresh()
                except Exception as error:  # noqa: BLE001 - the watcher must outlive any one bad look
                    log.warning(
                        "%s: cannot reload the index (%s); still serving the last one", served.name, error
                    )

    def get(self, name: str | None) -> ServedIndex:
        """The index called ``name`` (the first one served when None)."""
        if name is None:
            return next(iter(self.indexes.values()))
        if name not in self.indexes:
            raise UnknownIndexError(
                f"index {name!r}: not served here; this server has {', '.join(self.indexes)}"
            )
        return self.indexes[name]

    def batcher(self, store: api.SearchBackend) -> QueryBatcher:
        """The query batcher (and model) for the encoder ``store`` was built with."""
        manifest = store.manifest
        key = json.dumps(
            [manifest["weights"], manifest["layers"], manifest.get("network_input"), manifest["descriptors"]],
            sort_keys=True,
        )
        with self.lock:
            if key not in self.batchers:
                extractor = api.make_extractor(manifest, self.config.device, self.config.precision)
                self.batchers[key] = QueryBatcher(
                    extractor, self.config.batch_window_ms / 1000, self.config.max_batch
                )
            return self.batchers[key]
