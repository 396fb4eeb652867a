"""The server's native API through FastAPI's TestClient on a real small index: every route, every
kind of bad input (4xx JSON, the server keeps serving), the token, CORS, the upload limit, and
a new generation committed while queries run."""

from __future__ import annotations

import io
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from stylesim import api
from stylesim.server import ServeConfig, create_app
from tests.conftest import GRID_LOOKS, GRID_PHOTOS, TEST_SIZE


@pytest.fixture(scope="module")
def client(grid_index: Path):
    with TestClient(create_app(ServeConfig({"grid": grid_index}))) as c:
        yield c


def ids_by_path(grid_index: Path) -> dict[str, int]:
    store = api.open_index(grid_index)
    return {str(p): int(i) for i, p in zip(store.items.index, store.items["path"], strict=True)}


def jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_health_info_items_and_thumbnails(client, grid_index, grid_dir):
    assert client.get("/health").json()["indexes"]["grid"]["items"] == len(GRID_PHOTOS) * len(GRID_LOOKS)
    assert client.get("/info").json()["items"] == len(GRID_PHOTOS) * len(GRID_LOOKS)
    item = ids_by_path(grid_index)[str(grid_dir / "oil" / "rocket.jpg")]
    row = client.get(f"/items/{item}").json()
    assert (
        row["path"] == str(grid_dir / "oil" / "rocket.jpg") and row["kind"] == "image" and row["id"] == item
    )
    thumb = client.get(f"/items/{item}/image", params={"size": 64})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 64
    assert client.get("/docs").status_code == 200 and "/search" in client.get("/openapi.json").json()["paths"]


def test_search_by_upload_id_and_path_in_query_order(client, grid_index, grid_dir):
    ids = ids_by_path(grid_index)
    query = grid_dir / "pencil" / "coffee.jpg"
    by_upload = client.post(
        "/search",
        files={"file": ("q.jpg", query.read_bytes(), "image/jpeg")},
        data={"by": "content", "k": "3"},
    )
    assert by_upload.status_code == 200, by_upload.text
    (answer,) = by_upload.json()
    assert all("coffee" in r["path"] for r in answer["results"])  # the same photo in other looks
    specs = [
        f"id:{ids[str(grid_dir / 'oil' / 'rocket.jpg')]}",
        f"path:{grid_dir / 'photo' / 'astronaut.jpg'}",
    ]
    both = client.post("/search", data={"q": specs, "by": "style", "k": "2"}).json()
    assert [q["query"] for q in both] == [
        str(grid_dir / "oil" / "rocket.jpg"),
        str(grid_dir / "photo" / "astronaut.jpg"),
    ]
    assert all(q["query"] not in [r["path"] for r in q["results"]] for q in both)  # the query itself left out
    via_get = client.get("/search", params={"q": specs[0], "by": "style", "k": 2}).json()
    assert via_get[0]["results"] == both[0]["results"]
    cli = api.search([str(grid_dir / "oil" / "rocket.jpg")], grid_index, by="style", k=2, device="cpu")
    assert [r["path"] for r in cli[0]["results"]] == [
        r["path"] for r in both[0]["results"]
    ]  # the CLI's results


def test_style_of_one_content_of_another(client, grid_dir):
    answer = client.post(
        "/search",
        data={
            "style_of": f"path:{grid_dir / 'pencil' / 'coffee.jpg'}",
            "content_of": f"path:{grid_dir / 'photo' / 'chelsea.jpg'}",
            "k": "2",
        },
    ).json()[0]
    assert answer["by"] == "style+content" and answer["results"][0]["path"] == str(
        grid_dir / "pencil" / "chelsea.jpg"
    )


@pytest.mark.parametrize(
    ("request_kwargs", "status", "words"),
    [
        ({"files": {"file": ("x.jpg", b"not an image at all", "image/jpeg")}}, 400, "not an image"),
        ({"data": {"q": "id:99999"}}, 404, "no such item"),
        ({"data": {"q": "id:0", "by": "mood"}}, 400, "mood"),
        ({"data": {"q": "id:0", "k": "0"}}, 400, "k 0"),
        ({"data": {"q": "id:0", "k": "abc"}}, 400, "k"),
        ({"data": {"q": "path:../../etc/passwd"}}, 404, "not an item"),
        ({"data": {"q": "path:/etc/passwd"}}, 404, "not an item"),
        ({"data": {"q": "file:3"}}, 400, "files were uploaded"),
        ({"data": {"q": "banana"}}, 400, "id:N"),
        ({"data": {"q": "id:0", "index": "other"}}, 404, "not served"),
    ],
)
def test_bad_input_is_a_one_line_4xx_and_the_server_keeps_serving(client, request_kwargs, status, words):
    reply = client.post("/search", **request_kwargs)
    assert reply.status_code == status, reply.text
    message = reply.json()["error"]
    assert words.lower() in message.lower() and "\n" not in message
    assert client.get("/health").status_code == 200


def test_truncated_image_is_a_400(client, grid_dir):
    data = (grid_dir / "photo" / "coffee.jpg").read_bytes()
    reply = client.post("/search", files={"file": ("cut.jpg", data[: len(data) // 2], "image/jpeg")})
    assert reply.status_code == 400 and "truncated" in reply.json()["error"]


def test_decompression_bomb_is_refused_before_decoding(client):
    buffer = io.BytesIO()
    Image.new("L", (12_000, 10_000)).save(buffer, format="PNG")  # 120 MP of zeros: a few kilobytes
    reply = client.post("/search", files={"file": ("bomb.png", buffer.getvalue(), "image/png")})
    assert reply.status_code == 400 and "decompression bomb" in reply.json()["error"]


def test_k_is_capped_and_unknown_items_404(client):
    results = client.get("/search", params={"q": "id:0", "k": 10**6, "include_query": True}).json()[0][
        "results"
    ]
    assert len(results) == len(GRID_PHOTOS) * len(GRID_LOOKS)
    assert (
        client.get("/items/123456").status_code == 404
        and client.get("/items/123456/image").status_code == 404
    )
    assert client.get("/items/0/image", params={"size": 5000}).status_code == 400


def test_items_whose_files_changed_are_not_read(grid_dir, tmp_path):
    folder = tmp_path / "coll"
    shutil.copytree(grid_dir / "photo", folder)
    index = tmp_path / "index"
    api.build_index([folder], index, size=TEST_SIZE, device="cpu")
    item = ids_by_path(index)[str(folder / "coffee.jpg")]
    (folder / "coffee.jpg").unlink()
    (folder / "coffee.jpg").symlink_to("/etc/hostname")  # swapped for a link out of the collection
    with TestClient(create_app(ServeConfig({"c": index}))) as c:
        reply = c.get(f"/items/{item}/image")
        assert reply.status_code == 404 and "changed since it was indexed" in reply.json()["error"]


def test_upload_over_the_limit_is_413(grid_index):
    with TestClient(create_app(ServeConfig({"grid": grid_index}, max_upload_bytes=10_000))) as c:
        reply = c.post("/search", files={"file": ("big.jpg", b"\xff" * 20_000, "image/jpeg")})
        assert reply.status_code == 413 and "limit" in reply.json()["error"]
        form = {"content-type": "application/x-www-form-urlencoded"}
        chunked = c.post("/search", content=iter([b"q=id%3A0&k=2&x="] + [b"y" * 4000] * 3), headers=form)
        assert chunked.status_code == 413 and "limit" in chunked.json()["error"]  # no Content-Length
        within = c.post("/search", content=iter([b"q=id%3A0&", b"k=2"]), headers=form)
        assert within.status_code == 200 and len(within.json()[0]["results"]) == 2


def test_token_and_cors(grid_index):
    config = ServeConfig({"grid": grid_index}, token="s3cret", cors_origins=("http://gallery.example",))
    with TestClient(create_app(config)) as c:
        assert c.get("/health").status_code == 200
        assert c.get("/info").status_code == 401 and "token" in c.get("/info").json()["error"]
        assert c.get("/info", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/info", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/items/0/image", params={"access_token": "s3cret"}).status_code == 200  # for <img> tags
        allowed = c.options(
            "/search", headers={"Origin": "http://gallery.example", "Access-Control-Request-Method": "POST"}
        )
        assert allowed.headers.get("access-control-allow-origin") == "http://gallery.example"
        other = c.get("/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_gatys_restyle_runs_as_a_job(client, grid_index, grid_dir):
    ids = ids_by_path(grid_index)
    content = f"id:{ids[str(grid_dir / 'photo' / 'rocket.jpg')]}"
    form = {
        "content": content,
        "style": f"path:{grid_dir / 'pencil' / 'coffee.jpg'}",
        "method": "gatys",
        "size": "64",
        "steps": "2",
    }
    started = client.post("/restyle", data=form)
    assert started.status_code == 202 and started.headers["location"].startswith("/jobs/")
    deadline = time.time() + 60
    while (job := client.get(started.headers["location"]).json())["status"] not in (
        "done",
        "failed",
    ) and time.time() < deadline:
        time.sleep(0.2)
    assert job["status"] == "done" and job["progress"] == {"steps": 2, "total": 2}
    image = Image.open(io.BytesIO(client.get(job["image"]).content))
    assert max(image.size) == 64
    unknown = client.get("/jobs/nope")
    assert unknown.status_code == 404 and "no such job" in unknown.json()["error"]


def test_a_new_generation_is_served_between_requests_without_failures(grid_dir, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(grid_dir / "photo", first)
    shutil.copytree(grid_dir / "pencil", second)
    index = tmp_path / "index"
    api.build_index([first], index, size=TEST_SIZE, device="cpu")
    statuses, counts, stop = [], [], threading.Event()
    with TestClient(create_app(ServeConfig({"c": index}, reload_seconds=0.05))) as c:

        def query() -> None:
            while not stop.is_set():
                reply = c.get("/search", params={"q": "id:0", "k": 100, "include_query": True})
                statuses.append(reply.status_code)
                counts.append(len(reply.json()[0]["results"]) if reply.status_code == 200 else -1)

        worker = threading.Thread(target=query)
        worker.start()
        api.build_index([second], index, size=TEST_SIZE, device="cpu")  # a concurrent writer commits
        deadline = time.time() + 30
        while (not counts or counts[-1] != 2 * len(GRID_PHOTOS)) and time.time() < deadline:
            time.sleep(0.05)
        stop.set()
        worker.join()
    assert set(statuses) == {200}, set(statuses)
    assert counts[0] == len(GRID_PHOTOS) and counts[-1] == 2 * len(GRID_PHOTOS)
    assert set(counts) <= {len(GRID_PHOTOS), 2 * len(GRID_PHOTOS)}  # never a mix


def test_auto_restyle_follows_the_cli_rule(grid_index, grid_dir, tmp_path, monkeypatch):
    """``auto`` is AdaIN (the PNG at once) with a decoder, Gatys (a job) without one, and an error
    without one when an AdaIN-only option (alpha below 1) is asked for or the configured decoder
    is not there, as in the CLI."""
    from stylesim.encoding.weights import resolve_weights
    from stylesim.transfer.adain import DECODER_ENV, AdaINDecoder, save_decoder

    decoder = tmp_path / "adain_decoder.pt"
    save_decoder(AdaINDecoder(), decoder, resolve_weights().sha256, "reflect", {"note": "untrained"})
    form = {
        "content": f"path:{grid_dir / 'photo' / 'rocket.jpg'}",
        "style": f"path:{grid_dir / 'pencil' / 'coffee.jpg'}",
        "method": "auto",
        "size": "64",
        "steps": "1",
    }
    with TestClient(create_app(ServeConfig({"grid": grid_index}, decoder=str(decoder)))) as c:
        assert c.get("/indexes").json()["adain"] is True
        answer = c.post("/restyle", data=form)
        assert answer.status_code == 200 and answer.headers["x-stylesim-method"] == "adain"
        assert max(Image.open(io.BytesIO(answer.content)).size) == 64
    monkeypatch.setenv(DECODER_ENV, str(tmp_path / "none.pt"))  # nothing installed
    with TestClient(create_app(ServeConfig({"grid": grid_index}))) as c:
        assert c.get("/indexes").json()["adain"] is False
        job = c.post("/restyle", data=form)
        assert job.status_code == 202 and job.headers["location"].startswith("/jobs/")
        refused = c.post("/restyle", data={**form, "alpha": "0.5"})
        assert refused.status_code == 400 and "no AdaIN decoder at" in refused.json()["error"]
    with TestClient(create_app(ServeConfig({"grid": grid_index}, decoder=str(tmp_path / "typo.pt")))) as c:
        refused = c.post("/restyle", data=form)
        assert refused.status_code == 400 and "typo.pt" in refused.json()["error"]


def test_serve_command_builds_its_configuration(grid_index, monkeypatch):
    """``stylesim serve``'s options reach the server's configuration (uvicorn is not started);
    a name given twice and an upload limit under one byte are usage errors."""
    from typer.testing import CliRunner

    import stylesim.server
    from stylesim.cli import app

    seen: dict[str, object] = {}
    monkeypatch.setattr(stylesim.server, "create_app", lambda config: seen.setdefault("config", config))
    monkeypatch.setattr("uvicorn.run", lambda served, host, port, **_: seen.update(host=host, port=port))
    options = ["--token", "T", "--max-upload", "1M", "--cors-origin", "http://x.example", "--port", "9001"]
    given = ["serve", "-i", f"a={grid_index}", "-i", f"b={grid_index}", *options]
    result = CliRunner().invoke(app, given)
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert isinstance(config, ServeConfig) and list(config.indexes) == ["a", "b"]
    assert (config.token, config.max_upload_bytes, config.cors_origins) == ("T", 2**20, ("http://x.example",))
    assert seen["port"] == 9001 and "serving a" in result.output
    typo = CliRunner().invoke(app, ["serve", "-i", str(grid_index), "--decoder", "typo.pt"])
    assert typo.exit_code == 2 and "typo.pt: no such file" in typo.output  # not found at the first restyle
    twice = CliRunner().invoke(app, ["serve", "-i", f"a={grid_index}", "-i", f"a={grid_index}"])
    assert twice.exit_code == 2 and "already taken" in twice.output
    for limit in ("0", "-1M", "lots", "infM"):
        refused = CliRunner().invoke(app, ["serve", "-i", str(grid_index), "--max-upload", limit])
        assert refused.exit_code == 2 and repr(limit) in refused.output, limit


def test_a_second_served_index_answers_for_its_own_items(grid_index, grid_dir, tmp_path):
    """With two indexes served, ``index=NAME`` picks the one searched, listed and pictured; the
    first is the default; ids are each index's own."""
    photos = tmp_path / "photos"
    shutil.copytree(grid_dir / "photo", photos)
    small = tmp_path / "small"
    api.build_index([photos], small, size=TEST_SIZE, device="cpu")
    with TestClient(create_app(ServeConfig({"grid": grid_index, "small": small}))) as c:
        listed = c.get("/indexes").json()["indexes"]
        assert [(i["name"], i["items"], i["default"]) for i in listed] == [
            ("grid", len(GRID_PHOTOS) * len(GRID_LOOKS), True),
            ("small", len(GRID_PHOTOS), False),
        ]
        assert c.get("/info", params={"index": "small"}).json()["items"] == len(GRID_PHOTOS)
        found = c.get("/search", params={"q": "id:0", "k": 100, "index": "small"}).json()[0]["results"]
        assert len(found) == len(GRID_PHOTOS) - 1 and all(r["path"].startswith(str(photos)) for r in found)
        row = c.get(f"/items/{found[0]['id']}", params={"index": "small"}).json()
        assert row["path"] == found[0]["path"]
        assert c.get("/items/0").json()["path"].startswith(str(grid_dir))  # the default: grid
        picture = c.get(f"/items/{found[0]['id']}/image", params={"size": 32, "index": "small"})
        assert picture.status_code == 200 and max(Image.open(io.BytesIO(picture.content)).size) == 32


def test_the_reload_watcher_outlives_a_failed_look(grid_dir, tmp_path, monkeypatch):
    """An unexpected error while opening a new generation (FAISS raises RuntimeError) is logged and
    the next look serves the generation: the watcher thread does not die."""
    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(grid_dir / "photo", first)
    shutil.copytree(grid_dir / "pencil", second)
    index = tmp_path / "index"
    api.build_index([first], index, size=TEST_SIZE, device="cpu")
    opened = api.open_index
    failures = []

    def flaky(root):
        if not failures:
            failures.append(root)
            raise RuntimeError("Error in faiss::read_index: simulated")
        return opened(root)

    with TestClient(create_app(ServeConfig({"c": index}, reload_seconds=0.05))) as c:
        monkeypatch.setattr(api, "open_index", flaky)
        api.build_index([second], index, size=TEST_SIZE, device="cpu")
        deadline, count = time.time() + 30, 0
        while count != 2 * len(GRID_PHOTOS) - 1 and time.time() < deadline:
            time.sleep(0.05)
            count = len(c.get("/search", params={"q": "id:0", "k": 100}).json()[0]["results"])
    assert failures and count == 2 * len(GRID_PHOTOS) - 1  # served after the failed look
