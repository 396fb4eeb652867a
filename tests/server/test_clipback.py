"""clip-retrieval back-end compatibility, with the requests its front-end and client send
(clip_retrieval/front/src/clip-service.js: a JSON string body posted as text/plain, to
``back + '/knn-service'``, which is ``//knn-service`` when the back URL ends with a slash)."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from stylesim import api
from stylesim.server import ServeConfig, create_app
from tests.conftest import GRID_PHOTOS, TEST_SIZE

MODES = ("style", "style-relative", "gram", "adain", "content", "colour")


@pytest.fixture(scope="module")
def client(grid_index: Path):
    with TestClient(create_app(ServeConfig({"grid": grid_index}))) as c:
        yield c


def front_request(client: TestClient, path: str, body: dict) -> object:
    """As the front-end posts: fetch(url, {method: 'POST', body: JSON.stringify(...)})."""
    return client.post(path, content=json.dumps(body), headers={"Content-Type": "text/plain;charset=UTF-8"})


def knn_body(query: Path, **fields: object) -> dict:
    body = {
        "text": "", "image": base64.b64encode(query.read_bytes()).decode(), "image_url": None,
        "embedding_input": None, "modality": "image", "num_images": 3, "indice_name": "grid/content",
        "num_result_ids": 8, "use_mclip": False, "deduplicate": False, "use_safety_model": True,
        "use_violence_detector": True, "aesthetic_score": "", "aesthetic_weight": "0.5",
    }  # fmt: skip
    return {**body, **fields}


def test_indices_list_names_every_mode(client):
    assert client.get("/indices-list").json() == [f"grid/{m}" for m in MODES]
    assert client.get("http://testserver//indices-list").json() == client.get("/indices-list").json()


def test_knn_service_as_the_front_end_calls_it(client, grid_dir):
    reply = front_request(
        client, "http://testserver//knn-service", knn_body(grid_dir / "pencil" / "coffee.jpg")
    )
    assert reply.status_code == 200, reply.text
    results = reply.json()
    assert len(results) == 8 and [r["similarity"] for r in results] == sorted(
        (r["similarity"] for r in results), reverse=True
    )
    assert all(isinstance(r["id"], int) and isinstance(r["similarity"], float) for r in results)
    with_meta, bare = results[:3], results[3:]
    assert all(set(r) == {"id", "similarity"} for r in bare)  # only num_images results carry metadata
    assert all(r["caption"] and r["url"].startswith("http://testserver/items/") for r in with_meta)
    ids_only = knn_body(grid_dir / "pencil" / "coffee.jpg", num_images=0, num_result_ids=None)
    only = front_request(client, "/knn-service", ids_only).json()  # was refused: num_result_ids 0
    assert len(only) == 1 and set(only[0]) == {"id", "similarity"}  # one id, no metadata
    assert with_meta[0]["path"] == str(
        grid_dir / "pencil" / "coffee.jpg"
    )  # clip back returns the query's own item
    assert all("coffee" in r["path"] for r in with_meta)  # by content: the same photo in other looks
    thumbnail = client.get(with_meta[0]["url"].removeprefix("http://testserver"))
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    assert "NaN" not in reply.text


def test_metadata_in_request_order(client, grid_index, grid_dir):
    body = {"ids": [3, 0, 7], "indice_name": "grid/style"}
    reply = front_request(client, "http://testserver//metadata", body).json()
    store = api.open_index(grid_index)
    assert [r["id"] for r in reply] == [3, 0, 7]
    assert [r["metadata"]["path"] for r in reply] == [str(store.items.at[i, "path"]) for i in (3, 0, 7)]
    assert front_request(client, "/metadata", {"ids": [], "indice_name": "grid/style"}).json() == []
    assert front_request(client, "/metadata", {"ids": [99999], "indice_name": "grid"}).status_code == 404
    for ids in (["x"], "12", [1.9], {"3": 1}, [True]):
        bad = front_request(client, "/metadata", {"ids": ids, "indice_name": "grid"})
        assert bad.status_code == 400 and "item ids" in bad.json()["error"], ids


def test_embedding_input_is_a_raw_vector_of_the_index_descriptor(client, grid_index, grid_dir):
    store = api.open_index(grid_index)
    query = api.load_query(str(grid_dir / "oil" / "rocket.jpg"), int(store.manifest["image_size"]))
    raw = api.encode_queries([query], api.make_extractor(store.manifest, "cpu"))
    body = {
        "embedding_input": raw["gram"][0].tolist(),
        "modality": "image",
        "num_images": 1,
        "indice_name": "grid/gram",
    }
    results = front_request(client, "/knn-service", body).json()
    assert results[0]["path"] == str(grid_dir / "oil" / "rocket.jpg") and results[0]["similarity"] > 0.99
    fused = front_request(client, "/knn-service", {**body, "indice_name": "grid/style"})
    assert fused.status_code == 400 and "colour" in fused.json()["error"]


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"modality": "text", "text": "a cat"}, "no text encoder"),
        ({"text": "a cat"}, "no text encoder"),
        ({"image": None, "image_url": "http://127.0.0.1:9/x.jpg"}, "--allow-image-url"),
        ({"image": None}, "give image"),
        ({"indice_name": "grid/mood"}, "mode"),
        ({"indice_name": "elsewhere/style"}, "not served"),
        ({"image": "@@@not base64, not an image@@@"}, "image"),
    ],
)
def test_bad_requests_are_clear_400s(client, grid_dir, fields, words):
    reply = front_request(client, "/knn-service", knn_body(grid_dir / "photo" / "chelsea.jpg", **fields))
    assert reply.status_code in (400, 404) and words in reply.json()["error"]
    assert client.post("/knn-service", content=b"{not json").status_code == 400


def test_deduplicate_collapses_copies(grid_dir, tmp_path):
    folder = tmp_path / "coll"
    shutil.copytree(grid_dir / "oil", folder)
    for name in ("chelsea", "coffee"):
        shutil.copy(folder / f"{name}.jpg", folder / f"{name}-copy.jpg")
    index = tmp_path / "index"
    api.build_index([folder], index, size=TEST_SIZE, device="cpu")
    with TestClient(create_app(ServeConfig({"c": index}))) as c:
        body = knn_body(folder / "chelsea.jpg", indice_name="c/style", num_images=10, num_result_ids=10)
        plain = [r["id"] for r in front_request(c, "/knn-service", body).json()]
        deduplicated = front_request(c, "/knn-service", {**body, "deduplicate": True}).json()
    assert len(plain) == len(GRID_PHOTOS) + 2 and len(deduplicated) == len(GRID_PHOTOS)
    assert len({Path(r["path"]).stem.removesuffix("-copy") for r in deduplicated}) == len(GRID_PHOTOS)


def test_cors_for_a_front_end_on_another_origin(grid_index, grid_dir):
    config = ServeConfig({"grid": grid_index}, cors_origins=("http://front.example",))
    with TestClient(create_app(config)) as c:
        body = json.dumps(knn_body(grid_dir / "photo" / "chelsea.jpg"))
        reply = c.post("/knn-service", content=body, headers={"Origin": "http://front.example"})
        assert (
            reply.status_code == 200
            and reply.headers["access-control-allow-origin"] == "http://front.example"
        )
        listing = c.get("/indices-list", headers={"Origin": "http://front.example"})
        assert listing.headers["access-control-allow-origin"] == "http://front.example"


def test_image_url_when_allowed(grid_index, grid_dir):
    """With allow_image_url the server fetches an http URL (here a local HTTP server) and
    searches with it; other schemes and images over the upload limit are 400s."""
    import functools
    import http.server
    import threading

    cup = grid_dir / "pencil" / "coffee.jpg"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(cup.parent))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as served:
        threading.Thread(target=served.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{served.server_address[1]}/{cup.name}"
        body = knn_body(cup, image=None, image_url=url, indice_name="grid/content", num_images=1)
        with TestClient(create_app(ServeConfig({"grid": grid_index}, allow_image_url=True))) as c:
            found = front_request(c, "/knn-service", body).json()
            assert found[0]["path"] == str(cup)  # fetched, encoded, found
            local = front_request(c, "/knn-service", {**body, "image_url": f"file://{cup}"})
            assert local.status_code == 400 and "only http and https" in local.json()["error"]
        assert cup.stat().st_size > 2000
        small = ServeConfig({"grid": grid_index}, allow_image_url=True, max_upload_bytes=2000)
        with TestClient(create_app(small)) as c:
            big = front_request(c, "/knn-service", body)
            assert big.status_code == 400 and "over the upload limit" in big.json()["error"], big.text
        served.shutdown()
