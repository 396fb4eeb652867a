"""Format 1 indexes (stylesim 0.1) are upgraded in place without re-encoding.

tests/data/index-v1 was written by stylesim 0.1 (commit 0e53e15): 2 photos x 4 looks of the
sample grid at ~96² px and one unreadable file, exactly as that version left it on disk.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pandas as pd
import pytest

from stylesim import api
from stylesim.errors import StylesimError
from stylesim.index.policy import LEGACY_STYLE_FUSION
from stylesim.index.store import IndexStore

V1 = Path(__file__).resolve().parents[1] / "data" / "index-v1"
DESCRIPTORS = ("gram", "adain", "content", "colour")


@pytest.fixture
def v1_copy(tmp_path) -> Path:
    root = tmp_path / "index"
    shutil.copytree(V1, root)
    return root


def v1_vectors(root: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Ids and vectors as stylesim 0.1 stored them (an IndexIDMap2 per descriptor)."""
    generation = root / (root / "CURRENT").read_text().strip()
    index: Any = faiss.read_index(str(generation / f"{name}.faiss"))  # an IndexIDMap2
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    return ids, index.index.reconstruct_n(0, len(ids))


def test_a_reader_refuses_format_1_with_the_upgrade_command(v1_copy):
    with pytest.raises(StylesimError, match=r"format 1.*stylesim compact --index"):
        api.open_index(v1_copy)
    assert (v1_copy / "gen-000001").is_dir()  # a reader changes nothing


def test_the_upgrade_keeps_ids_rows_vectors_statistics_and_skips(v1_copy):
    before = {name: v1_vectors(v1_copy, name) for name in DESCRIPTORS}
    rows = pd.read_parquet(v1_copy / "gen-000001" / "items.parquet").sort_values("id")
    with np.load(v1_copy / "gen-000001" / "stats.npz") as stats:
        means = {name: stats[f"{name}.mean"] for name in DESCRIPTORS if f"{name}.mean" in stats.files}

    api.compact_index(v1_copy)
    store = IndexStore.open(v1_copy)

    assert store.manifest["format_version"] == 2
    assert not (v1_copy / "gen-000001").exists()
    np.testing.assert_array_equal(store.ids(), rows["id"].to_numpy())
    assert list(store.rows(store.ids())["path"]) == list(rows["path"])
    for name, (ids, vectors) in before.items():
        np.testing.assert_allclose(store.vectors_of(name, ids), vectors, atol=1e-3)
    assert means and all(np.allclose(store.stats[name].mean, mean) for name, mean in means.items())
    assert list(store.skipped["path"]) == ["/tmp/v1build/grid/broken.jpg"]


def test_an_upgrade_stopped_after_its_commit_is_finished_by_the_next_writer(v1_copy, monkeypatch):
    """Stopped between committing the format 2 generation and removing the format 1 folder: the
    manifest still says format 1, and the next writer finishes the upgrade, the folder included
    (CURRENT no longer names it)."""
    from stylesim.index import legacy

    ids = v1_vectors(v1_copy, "gram")[0]

    def stopped(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt  # the process ends here

    monkeypatch.setattr(legacy.shutil, "rmtree", stopped)
    with pytest.raises(KeyboardInterrupt):
        api.compact_index(v1_copy)
    monkeypatch.undo()
    generation = json.loads((v1_copy / (v1_copy / "CURRENT").read_text().strip()).read_text())
    assert (v1_copy / "gen-000001").is_dir() and generation["state"]["upgraded_from"] == "gen-000001"
    with pytest.raises(StylesimError, match="format 1"):
        api.open_index(v1_copy)

    api.compact_index(v1_copy)
    assert not (v1_copy / "gen-000001").exists()
    store = IndexStore.open(v1_copy)
    assert store.manifest["format_version"] == 2
    np.testing.assert_array_equal(store.ids(), np.sort(ids))
    assert store.descriptors["colour"].config()["background"] == "all"  # every pixel, as 0.1 counted


def test_the_upgraded_index_answers_as_its_vectors_do(v1_copy):
    ids, content = v1_vectors(v1_copy, "content")
    api.compact_index(v1_copy)
    store = api.open_index(v1_copy)
    for query in ids:
        answer = api.search_items(store, [int(query)], by="content", k=len(ids) - 1)[0]["results"]
        cosines = content @ content[ids == query][0]
        expected = [int(i) for i in ids[np.argsort(-cosines)] if i != query]
        assert [r["id"] for r in answer] == expected


def test_an_index_run_upgrades_and_adds(v1_copy, grid_dir):
    old_ids = v1_vectors(v1_copy, "gram")[0]
    report = api.build_index([grid_dir / "pencil"], v1_copy, device="cpu")
    store = IndexStore.open(v1_copy)
    assert report.added == len(list((grid_dir / "pencil").iterdir()))
    assert len(store) == len(old_ids) + report.added
    assert store.ids()[len(old_ids) :].min() > old_ids.max()  # new ids never reuse old ones
    # settings recorded since (or changed) stay what the index was made with
    assert store.fusion == LEGACY_STYLE_FUSION and store.descriptors["colour"].dim == 8**3
    pencil = store.ids()[-1:]
    hits = api.search_items(store, [int(pencil[0])], by="style", k=3)[0]["results"]
    assert {"gram", "adain", "colour"} <= set(hits[0]["scores"])  # adain weighs 0.2 here
