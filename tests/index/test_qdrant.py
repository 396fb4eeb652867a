"""Qdrant as a serving backend (local mode, no server): the exported collection answers every
search as the index folder does, an interrupted export resumes, and the CLI searches it."""

import json
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

pytest.importorskip("qdrant_client", reason="qdrant-client is not installed: pip install 'stylesim[qdrant]'")

from qdrant_client import QdrantClient, models  # noqa: E402

from stylesim import api  # noqa: E402
from stylesim.cli import app  # noqa: E402
from stylesim.errors import UsageError  # noqa: E402
from stylesim.index.qdrant import RECORD_ID, QdrantError, QdrantStore, export, read_record  # noqa: E402
from stylesim.index.store import IndexStore  # noqa: E402

runner = CliRunner()
MODES = ["style", "content", "style-relative", "gram"]


@pytest.fixture(scope="module")
def folder(grid_index):
    return IndexStore.open(grid_index)


@pytest.fixture(scope="module")
def exported(folder):
    client = QdrantClient(location=":memory:")
    report = export(folder, client, "grid", batch=5)
    assert (report.items, report.written, report.kept, report.removed) == (len(folder), len(folder), 0, 0)
    store = QdrantStore.attach(client, "grid", "memory")
    yield store
    store.close()


def item_ids(client, collection):
    points, _ = client.scroll(collection, limit=1000, with_payload=False)
    return [p.id for p in points if isinstance(p.id, int)]


@pytest.mark.parametrize("by", MODES)
def test_every_item_as_query_gives_the_folders_results(folder, exported, by):
    ids = folder.ids().tolist()
    expected = api.search_items(folder, ids, by=by, k=10)
    found = api.search_items(exported, ids, by=by, k=10)
    for want, got in zip(expected, found, strict=True):
        assert got["query"] == want["query"]
        want_ids, got_ids = [r["id"] for r in want["results"]], [r["id"] for r in got["results"]]
        assert len(got_ids) == len(want_ids) == 10 and set(got_ids) == set(want_ids)  # top-10 overlap 1.0
        want_scores = {r["id"]: r["score"] for r in want["results"]}
        assert all(abs(r["score"] - want_scores[r["id"]]) < 1e-3 for r in got["results"])
        assert [r["path"] for r in got["results"]] == [  # same metadata for the same items
            {r["id"]: r["path"] for r in want["results"]}[i] for i in got_ids
        ]


def test_the_collection_answers_what_the_folder_answers(folder, exported, grid_dir):
    ids = folder.ids()
    assert len(exported) == len(folder) and np.array_equal(exported.ids(), ids)
    order = ids[::-1][:7]
    pd.testing.assert_frame_equal(exported.rows(order), folder.rows(order))  # same columns and dtypes
    assert exported.rows(np.array([10_000])).empty
    assert exported.contains(np.array([ids[0], 10_000, -1])).tolist() == [True, False, False]
    path = str(grid_dir / "oil" / "rocket.jpg")
    assert np.array_equal(exported.matching("path", [path]), folder.matching("path", [path]))
    sha = folder.rows(ids[:2])["sha256"].tolist()
    assert np.array_equal(exported.matching("sha256", sha), folder.matching("sha256", sha))
    assert exported.version_threshold() == folder.version_threshold()
    # the content discount's sample: the folder's, recorded by the export
    np.testing.assert_array_equal(exported.content_sample(), folder.content_sample())
    # and the colour weight's agreement, measured on the folder at its commit
    assert exported.style_agreement() == folder.style_agreement() is not None
    assert exported.manifest == folder.manifest
    raw = {n: np.random.default_rng(0).normal(size=(2, d.dim)) for n, d in folder.descriptors.items()}
    for name, vectors in folder.prepare_queries(raw).items():
        np.testing.assert_array_equal(exported.prepare_queries(raw)[name], vectors)
    np.testing.assert_array_equal(exported.vectors_of("gram", order), folder.vectors_of("gram", order))


def test_an_interrupted_export_resumes(folder):
    client = QdrantClient(location=":memory:")

    def interrupt(count):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export(folder, client, "grid", batch=4, on_progress=interrupt)
    ids = folder.ids()
    assert sorted(item_ids(client, "grid")) == ids[:4].tolist()
    assert read_record(client, "grid")["written"] == ids[3]
    with pytest.raises(QdrantError, match="not complete"):
        QdrantStore.attach(client, "grid", "memory")
    report = export(folder, client, "grid", batch=4)
    assert (report.written, report.kept) == (len(ids) - 4, 4)
    assert sorted(item_ids(client, "grid")) == ids.tolist()  # every item once
    assert client.count("grid").count == len(ids) + 1  # and the record
    assert export(folder, client, "grid", batch=4).written == 0  # complete: nothing to do
    client.close()


def test_a_newer_index_state_is_written_again_and_strays_removed(folder):
    client = QdrantClient(location=":memory:")
    export(folder, client, "grid", batch=8)
    stray = models.PointStruct(id=99_999, vector={}, payload={"path": "gone.jpg"})
    client.upsert("grid", [stray])
    client.set_payload("grid", {"generation": "gen-older.json"}, [RECORD_ID])
    report = export(folder, client, "grid", batch=8)
    assert (report.written, report.kept, report.removed) == (len(folder), 0, 1)
    assert sorted(item_ids(client, "grid")) == folder.ids().tolist()
    client.close()


def test_a_collection_of_other_vectors_is_refused(folder):
    client = QdrantClient(location=":memory:")
    vectors = models.VectorParams(size=4, distance=models.Distance.DOT)
    client.create_collection("other", vectors_config=vectors)
    with pytest.raises(QdrantError, match="other vectors"):
        export(folder, client, "other")
    client.close()


def test_cli_exports_and_searches_the_collection(grid_dir, grid_index, tmp_path):
    target = tmp_path / "qdrant"
    exported = runner.invoke(
        app, ["export-qdrant", "--index", str(grid_index), "--qdrant", str(target), "--collection", "grid",
              "--batch", "5", "--quiet"],
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    assert "16 items (16 written" in exported.output
    query = ["search", str(grid_dir / "oil" / "rocket.jpg"), "-k", "5", "--format", "json", "--device", "cpu"]
    for by in ("style", "style-relative"):
        want = runner.invoke(app, [*query, "--by", by, "--index", str(grid_index)])
        got = runner.invoke(app, [*query, "--by", by, "--qdrant", str(target), "--collection", "grid"])
        assert got.exit_code == 0, got.output
        wanted, results = json.loads(want.stdout)[0]["results"], json.loads(got.stdout)[0]["results"]
        assert [r["id"] for r in results] == [r["id"] for r in wanted]
        assert all(abs(a["score"] - b["score"]) < 1e-3 for a, b in zip(results, wanted, strict=True))
    missing = runner.invoke(app, [*query, "--qdrant", str(target), "--collection", "nope"])
    assert missing.exit_code == 1 and missing.output.count("\n") == 1
    assert "collection 'nope'" in missing.output and "no such collection" in missing.output
    lonely = runner.invoke(app, [*query, "--qdrant", str(target)])
    assert lonely.exit_code == 2 and "go together" in lonely.output


def test_the_server_serves_a_collection(folder, grid_dir, tmp_path):
    pytest.importorskip("fastapi", reason="the server needs fastapi: pip install 'stylesim[serve]'")
    from fastapi.testclient import TestClient

    from stylesim.server import ServeConfig, create_app

    api.export_qdrant(str(tmp_path / "qdrant"), "grid", folder.root)
    config = ServeConfig({}, collections={"grid": (str(tmp_path / "qdrant"), "grid")})
    with TestClient(create_app(config)) as client:
        assert client.get("/health").json()["indexes"]["grid"] == {"items": len(folder), "generation": None}
        assert client.get("/info").json()["items"] == len(folder)
        item = int(folder.matching("path", [str(grid_dir / "oil" / "rocket.jpg")])[0])
        got = client.get("/search", params={"q": f"id:{item}", "by": "style-relative", "k": 5}).json()
    want = api.search_items(folder, [item], by="style-relative", k=5)
    assert [r["id"] for r in got[0]["results"]] == [r["id"] for r in want[0]["results"]]


def test_without_qdrant_client_the_error_is_one_line(grid_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "qdrant_client", None)  # as if not installed
    with pytest.raises(UsageError) as missing:
        api.open_qdrant(str(tmp_path), "grid")
    assert str(missing.value) == "--qdrant needs qdrant-client: pip install 'stylesim[qdrant]'"
    query = str(grid_dir / "oil" / "rocket.jpg")
    result = runner.invoke(app, ["search", query, "--qdrant", str(tmp_path), "--collection", "grid"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert result.output.startswith("stylesim: error: --qdrant needs qdrant-client: pip install 'stylesim")


def test_serve_names_its_collections():
    from stylesim.errors import UsageError
    from stylesim.server.config import parse_collections

    spec = parse_collections("http://qdrant:6333", ["grid", "art=paintings"])
    assert spec == {"grid": ("http://qdrant:6333", "grid"), "art": ("http://qdrant:6333", "paintings")}
    with pytest.raises(UsageError, match="go together"):
        parse_collections(None, ["grid"])
    with pytest.raises(UsageError, match="go together"):
        parse_collections("http://qdrant:6333", [])
