import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylesim import api
from stylesim.errors import IndexLockedError, ManifestMismatchError, StylesimError
from stylesim.index.manifest import read_manifest
from stylesim.index.store import IndexStore
from tests.conftest import GRID_PHOTOS, TEST_SIZE, photo


def paths_in(root: Path) -> list[str]:
    return sorted(IndexStore.open(root).items["path"])


def test_round_trip_content_and_style(grid_dir, grid_index):
    store = IndexStore.open(grid_index)
    assert len(store) == 16
    assert set(store.descriptors) == {"gram", "adain", "content", "colour", "coarse"}
    assert all(store.all_vectors(name)[1].shape[0] == 16 for name in store.descriptors)
    row = store.items.iloc[0]
    assert row["width"] > 0 and row["height"] > 0 and len(row["sha256"]) == 64 and row["kind"] == "image"
    query = str(grid_dir / "oil" / "chelsea.jpg")
    by_content = api.search([query], grid_index, by="content", k=4, device="cpu", include_query=True)[0][
        "results"
    ]
    assert by_content[0]["path"] == query and by_content[0]["score"] > 0.99
    assert all("chelsea" in r["path"] for r in by_content), by_content  # same photo, every look
    pencil = str(grid_dir / "pencil" / "coffee.jpg")
    by_style = api.search([pencil], grid_index, by="style", k=4, device="cpu")[0]["results"]
    assert sum("/pencil/" in r["path"] for r in by_style) >= 3, by_style  # chance: 3 of 15
    assert [r["score"] for r in by_style] == sorted((r["score"] for r in by_style), reverse=True)
    # the weighted descriptors (the index's manifest records the weights; adain weighs 0 today),
    # content for the discount; coarse only where the near-duplicate rule's other gates pass
    assert store.fusion == {"gram": 0.7, "adain": 0.0, "colour": 0.3}
    fused = {"gram", "colour", "content"}
    assert fused <= set(by_style[0]["scores"]) <= fused | {"coarse"}


def test_storage_per_item_is_at_most_4kb(grid_index):
    store = IndexStore.open(grid_index)
    for name, d in store.descriptors.items():
        assert d.bytes_per_item <= 4096, name
        stored = store.segments[0].array(name)
        assert stored.dtype == np.float16 and stored.shape[1] * stored.itemsize == d.bytes_per_item


def test_incremental_add_change_delete(tmp_path):
    coll, root = tmp_path / "coll", tmp_path / "index"
    coll.mkdir()
    for name in ("astronaut", "chelsea", "coffee"):
        Image.fromarray(photo(name)).save(coll / f"{name}.png")
    r = api.build_index([coll], root, size=TEST_SIZE)
    assert (r.added, r.unchanged, r.removed) == (3, 0, 0)
    ids_before = dict(
        zip(IndexStore.open(root).items["path"], IndexStore.open(root).items["id"], strict=True)
    )

    r = api.build_index([coll], root, size=TEST_SIZE)  # nothing changed
    assert (r.added, r.unchanged, r.removed) == (3 - 3, 3, 0)

    Image.fromarray(photo("rocket")).save(coll / "rocket.png")  # new
    Image.fromarray(photo("camera")).save(coll / "coffee.png")  # changed content, same name
    os.remove(coll / "chelsea.png")  # deleted
    r = api.build_index([coll], root, size=TEST_SIZE)
    assert (r.added, r.unchanged, r.removed) == (2, 1, 1)
    store = IndexStore.open(root)
    assert paths_in(root) == sorted(str(coll / f) for f in ("astronaut.png", "coffee.png", "rocket.png"))
    assert store.items["path"].is_unique
    assert (
        store.items.set_index("path").loc[str(coll / "astronaut.png"), "id"]
        == ids_before[str(coll / "astronaut.png")]
    )
    # the changed file's vectors are the new picture's: it finds itself by content
    hit = api.search([str(coll / "coffee.png")], root, by="content", k=1, include_query=True)[0]["results"][0]
    assert hit["path"] == str(coll / "coffee.png") and hit["score"] > 0.99
    assert all(len(store.all_vectors(name)[0]) == 3 for name in store.descriptors)

    # indexing another folder into the same index keeps the first folder's items
    other = tmp_path / "other"
    other.mkdir()
    Image.fromarray(photo("clock")).save(other / "clock.png")
    r = api.build_index([other], root, size=TEST_SIZE)
    assert (r.added, r.removed) == (1, 0) and len(IndexStore.open(root)) == 4


def test_refuses_other_settings_and_concurrent_writer(tmp_path, grid_dir):
    root = tmp_path / "index"
    api.build_index([grid_dir / "pencil"], root, size=TEST_SIZE)
    with pytest.raises(ManifestMismatchError, match="image_size: index has 96, this run asks for 128"):
        api.build_index([grid_dir / "pencil"], root, size=128)
    manifest = read_manifest(root)
    with (
        IndexStore.open_for_writing(root, manifest),
        pytest.raises(IndexLockedError, match="another stylesim process"),
    ):
        IndexStore.open_for_writing(root, manifest)
    # a manifest edited to other weights is refused at query time
    tampered = json.loads((root / "manifest.json").read_text())
    tampered["weights"]["sha256"] = "0" * 64
    (root / "manifest.json").write_text(json.dumps(tampered))
    with pytest.raises(ManifestMismatchError, match="differ from the ones the index was built with"):
        api.search([str(grid_dir / "pencil" / "coffee.jpg")], root, by="gram")


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(StylesimError, match="no index here"):
        api.search([str(tmp_path / "q.jpg")], tmp_path / "nothing")


def test_kill_minus_nine_loses_at_most_the_batch_in_flight(tmp_path):
    coll, root = tmp_path / "coll", tmp_path / "index"
    coll.mkdir()
    base = photo("astronaut", 256)
    for i in range(24):  # distinct images: crops of one photo
        Image.fromarray(np.ascontiguousarray(base[i * 4 : i * 4 + 128, i * 3 : i * 3 + 128])).save(
            coll / f"crop{i:02d}.png"
        )
    cmd = [
        sys.executable,
        "-m",
        "stylesim",
        "index",
        str(coll),
        "--index",
        str(root),
        "--size",
        "64",
        "--batch-size",
        "2",
        "--workers",
        "1",
        "-q",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((root / "pending").glob("shard-*.npz"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    journalled = len(list((root / "pending").glob("shard-*.npz")))
    assert journalled >= 3, "the run was not caught mid-way"
    # check=False: the test asserts on the returncode itself, with stderr as the message
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "recovered from an interrupted run" in result.stderr
    store = IndexStore.open(root)
    assert len(store) == 24 and store.items["path"].is_unique
    assert not list((root / "pending").glob("*"))
    # the second run encoded only what the first had not journalled
    added = int(result.stderr.split(" added")[0].split()[-1])
    recovered = int(result.stderr.split(", ")[1].split()[0])
    assert recovered >= 2 * journalled and added == 24


PICTURES_INTERRUPTED = 64


def started_in_the_background(cmd: list[str]) -> subprocess.Popen[str]:
    """``cmd`` started with SIGINT ignored, as a job started with ``&`` from a script inherits it
    (Python then installs no KeyboardInterrupt handler of its own): an ignored signal stays
    ignored across fork and exec."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_ctrl_c_or_kill_keeps_encoded_batches(tmp_path, signum):
    """Ctrl-C or ``kill`` after the first batches: they are committed, the run exits 130, a
    second run adds the rest; also when the run was started in the background, with SIGINT
    ignored. 64 pictures, so that the run is still encoding when the signal comes (3 s left
    after the second batch on the 2-core CI machine)."""
    coll, root = tmp_path / "coll", tmp_path / "index"
    coll.mkdir()
    base = photo("coffee", 256)  # 171 x 256: crops 120 x 160 at 64 offsets
    for i in range(PICTURES_INTERRUPTED):
        top, left = (i % 8) * 6, (i // 8) * 12
        crop = base[top : top + 120, left : left + 160]
        Image.fromarray(np.ascontiguousarray(crop)).save(coll / f"c{i:02d}.png")
    cmd = [
        sys.executable,
        "-m",
        "stylesim",
        "index",
        str(coll),
        "--index",
        str(root),
        "--size",
        "64",
        "--batch-size",
        "2",
        "--workers",
        "1",
        "-q",
    ]
    proc = started_in_the_background(cmd)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((root / "pending").glob("shard-*.npz"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    kept = len(IndexStore.open(root))
    assert 4 <= kept < PICTURES_INTERRUPTED  # committed at once, not only journalled
    # check=False: the test asserts on the returncode itself, with stderr as the message
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert result.returncode == 0 and len(IndexStore.open(root)) == PICTURES_INTERRUPTED


def test_refit_after_growth_matches_a_fresh_build(tmp_path, grid_dir):
    """Growing 4 -> 8 items refits the collection statistics from the stored vectors; the
    result equals an index built from all 8 at once (up to float16 storage error)."""
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, looks in ((first, ("pencil",)), (second, ("oil",))):
        folder.mkdir()
        for look in looks:
            for p in GRID_PHOTOS:
                shutil.copy(grid_dir / look / f"{p}.jpg", folder / f"{look}-{p}.jpg")
    grown = tmp_path / "grown"
    api.build_index([first], grown, size=TEST_SIZE)
    report = api.build_index([second], grown, size=TEST_SIZE)
    assert set(report.refitted) == {"gram", "adain", "colour", "coarse"}
    fresh = tmp_path / "fresh"
    api.build_index([first, second], fresh, size=TEST_SIZE)
    a, b = IndexStore.open(grown), IndexStore.open(fresh)
    for name in ("gram", "adain", "colour", "coarse"):
        np.testing.assert_allclose(a.stats[name].mean, b.stats[name].mean, rtol=0.02, atol=1e-3)
        va = dict(zip(a.rows(a.all_vectors(name)[0])["path"], a.all_vectors(name)[1], strict=True))
        vb = dict(zip(b.rows(b.all_vectors(name)[0])["path"], b.all_vectors(name)[1], strict=True))
        for path, vec_a in va.items():
            cosine = float(vec_a @ vb[path] / np.linalg.norm(vec_a) / np.linalg.norm(vb[path]))
            assert cosine > 0.98, (name, path, cosine)


def test_metadata_columns_get_the_declared_dtypes_whatever_pandas_inferred():
    """pandas 3 infers "str" columns, which compare equal to the name "string" but hold NaN for
    a missing value; the tables' string columns are always the nullable "string" dtype."""
    import pandas as pd

    from stylesim.index.frames import ITEM_DTYPES, with_columns_of

    inferred = pd.DataFrame(
        {"id": [1, 2], "path": ["a.jpg", "b.jpg"], "kind": ["image", "frame"], "size": [10, 20]}
        | {"mtime_ns": [0, 0], "sha256": ["0" * 64] * 2, "width": [4, 4], "height": [3, 3]}
        | {"video": [None, "v.mp4"]}
    )
    frame = with_columns_of(inferred, ITEM_DTYPES)
    assert list(frame.columns) == list(ITEM_DTYPES)
    for column, dtype in ITEM_DTYPES.items():
        assert frame[column].dtype == pd.api.types.pandas_dtype(dtype), column
    assert frame["video"].iloc[0] is pd.NA and frame["time"].isna().all()
