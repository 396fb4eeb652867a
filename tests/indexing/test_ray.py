"""The Ray engine on a local Ray instance (``ray.init(num_cpus=2)``): it builds the index the
local engine builds from the same files (16 photos in 4 looks, one two-shot video and a file
that cannot be decoded), re-running adds only what changed, a job killed before its reduce
step is resumed from what its actors wrote, and its errors are one line."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import sample_videos
from typer.testing import CliRunner

from stylesim import api
from stylesim.cli import app
from stylesim.errors import StylesimError
from stylesim.index.store import IndexStore
from stylesim.indexing import run
from tests.conftest import TEST_SIZE, photo

ray = pytest.importorskip(
    "ray", reason="the Ray engine's tests need the ray extra: pip install 'stylesim[ray]'"
)

FP16_TOLERANCE = 2e-3  # stored vectors are fp16 unit vectors: a few units in the last place
MODES = ("style", "content", "style-relative")
runner = CliRunner()


@pytest.fixture(scope="module")
def ray_instance():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, logging_level="WARNING")
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def collection(grid_dir, tmp_path_factory) -> Path:
    """The grid, a two-shot video (a sample at each cut) and a file that is not an image."""
    out = tmp_path_factory.mktemp("ray-collection")
    shutil.copytree(grid_dir, out / "grid")
    shots = [sample_videos.Shot(photo("astronaut", 384), 1), sample_videos.Shot(photo("chelsea", 384), 1)]
    sample_videos.write_video(out / "clip.mp4", shots, fps=10)
    (out / "broken.jpg").write_bytes(b"not a jpeg")
    return out


@pytest.fixture(scope="module")
def local_index(collection, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("local") / "index"
    api.build_index([collection], root, size=TEST_SIZE, device="cpu")
    return root


@pytest.fixture(scope="module")
def ray_index(collection, ray_instance, tmp_path_factory) -> tuple[Path, api.IndexReport]:
    root = tmp_path_factory.mktemp("ray") / "index"
    report = api.build_index([collection], root, size=TEST_SIZE, device="cpu", engine="ray")
    return root, report


def by_item(root: Path) -> tuple[IndexStore, dict[tuple[str, float], int]]:
    """The index and its ids by (path, time): ids differ between engines, items do not."""
    store = IndexStore.open(root)
    items = store.items
    times = items["time"].fillna(-1.0)
    keys = zip(items["path"], times, items["id"], strict=True)
    return store, {(p, round(float(t), 3)): int(i) for p, t, i in keys}


def rankings(root: Path) -> dict[tuple[str, float, str], list[tuple[str, float]]]:
    """Per item and search mode, its top 5 (path, score), searched with its stored vectors."""
    store, ids = by_item(root)
    out = {}
    for by in MODES:
        results = api.search_items(store, list(ids.values()), by, k=5)
        for key, result in zip(ids, results, strict=True):
            out[(*key, by)] = [(r["path"], r["score"]) for r in result["results"]]
    return out


def assert_same_index(expected: Path, actual: Path) -> None:
    """Same items and metadata, vectors within fp16 tolerance, same skips."""
    local, local_ids = by_item(expected)
    other, other_ids = by_item(actual)
    assert sorted(local_ids) == sorted(other_ids)
    keys = sorted(local_ids)
    columns = ["path", "kind", "size", "mtime_ns", "sha256", "width", "height", "video", "frame", "duration"]
    a = local.rows(np.array([local_ids[k] for k in keys]))[columns].reset_index(drop=True)
    b = other.rows(np.array([other_ids[k] for k in keys]))[columns].reset_index(drop=True)
    assert a.equals(b)
    for name in local.descriptors:
        mine = local.vectors_of(name, np.array([local_ids[k] for k in keys]))
        theirs = other.vectors_of(name, np.array([other_ids[k] for k in keys]))
        assert np.abs(mine - theirs).max() < FP16_TOLERANCE, name
    assert sorted(local.skipped["path"]) == sorted(other.skipped["path"])


def test_the_ray_engine_builds_the_local_engines_index(collection, local_index, ray_index):
    root, report = ray_index
    assert (report.added, report.videos, report.frames) == (16 + 2, 1, 2)
    assert [s.path for s in report.skipped] == [str(collection / "broken.jpg")]
    assert_same_index(local_index, root)
    local, other = rankings(local_index), rankings(root)
    assert local.keys() == other.keys()
    for key, expected in local.items():
        assert [p for p, _ in other[key]] == [p for p, _ in expected], key
        assert np.allclose([s for _, s in other[key]], [s for _, s in expected], atol=FP16_TOLERANCE), key
    queries = [str(collection / "grid" / "oil" / "astronaut.jpg"), f"{collection / 'clip.mp4'}@1.5"]
    for mine, theirs in zip(
        api.search(queries, local_index, device="cpu"), api.search(queries, root, device="cpu"), strict=True
    ):
        assert [r["path"] for r in mine["results"]] == [r["path"] for r in theirs["results"]]


def test_a_rerun_adds_only_what_changed(collection, ray_index, tmp_path):
    root = tmp_path / "index"
    shutil.copytree(ray_index[0], root)
    extra = tmp_path / "more"
    shutil.copytree(collection / "grid" / "oil", extra)
    encoded = []
    report = api.build_index([collection, extra], root, engine="ray", device="cpu", on_plan=encoded.append)
    assert encoded == [4] and report.added == 4 and report.unchanged == 16 + 1
    assert report.total == 16 + 2 + 4 and report.new_skips == 0


def test_a_killed_job_resumes_with_what_its_actors_wrote(
    collection, local_index, ray_instance, tmp_path, monkeypatch
):
    """The driver dies after the map phase (every shard written, nothing merged or committed):
    the next run, here with the local engine, merges the journal and encodes nothing again."""
    root = tmp_path / "index"

    def killed(*args, **kwargs):
        raise SystemExit("driver killed before the reduce step")

    with monkeypatch.context() as patched:
        patched.setattr(run, "finish_run", killed)
        with pytest.raises(SystemExit):
            api.build_index([collection], root, size=TEST_SIZE, device="cpu", engine="ray")
    assert IndexStore.open(root).generation_file is None  # nothing committed
    assert len(list((root / "pending").glob("shard-*.npz"))) == 2  # a shard per work item: images, video
    encoded = []
    report = api.build_index([collection], root, device="cpu", on_plan=encoded.append)
    assert report.resumed == 16 + 2 and encoded == [1]  # only the broken file is read again
    assert_same_index(local_index, root)


def last_line(*args: str) -> str:
    """The last line ``stylesim index ARGS`` writes (its progress line comes first)."""
    result = runner.invoke(app, ["index", *args])
    assert result.exit_code != 0
    return result.output.strip().splitlines()[-1]


def test_ray_errors_are_one_line(collection, tmp_path, monkeypatch):
    folder = str(collection)
    assert last_line(folder, "-i", str(tmp_path / "a"), "--engine", "ray", "--address", "127.0.0.1:1") == (
        "stylesim: error: --address 127.0.0.1:1: cannot reach a Ray cluster there (connection refused); "
        "start one with `ray start --head` and give its address, or auto on one of its nodes"
    )
    assert last_line(folder, "-i", str(tmp_path / "b"), "--address", "auto") == (
        "stylesim: error: --address and --num-gpus-per-worker go with --engine ray"
    )
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(StylesimError) as refused:
        api.build_index([folder], tmp_path / "c", engine="ray")
    assert str(refused.value) == "--engine ray needs the ray extra: pip install 'stylesim[ray]'"
    # the command line's error printer reads "[ray]" as Rich markup and drops it
    assert last_line(folder, "-i", str(tmp_path / "c"), "--engine", "ray").startswith(
        "stylesim: error: --engine ray needs the ray extra: pip install 'stylesim"
    )
    assert not (tmp_path / "c").exists()  # refused before the index folder is made


class FakeCluster:
    """What ``encoder_plan`` asks Ray about a cluster: its resources and its nodes."""

    def __init__(self, nodes: int, cpus_each: int, gpus_each: int) -> None:
        self.resources = (
            {"CPU": nodes * cpus_each, "GPU": nodes * gpus_each} if gpus_each else {"CPU": nodes * cpus_each}
        )
        self.count = nodes

    def cluster_resources(self):
        return self.resources

    def nodes(self):
        return [{"Alive": True}] * self.count + [{"Alive": False}]


def test_encoder_actors_follow_the_cluster():
    """One actor per GPU (or GPU share), else one per node with that node's cores; a request
    for GPUs the cluster lacks is refused in one line."""
    from stylesim.indexing.ray_engine import RayOptions, encoder_plan

    gpus = FakeCluster(nodes=2, cpus_each=16, gpus_each=4)
    assert encoder_plan(gpus, RayOptions()) == (8, 1.0, 4)
    assert encoder_plan(gpus, RayOptions(gpus_per_worker=0.5)) == (16, 0.5, 2)
    assert encoder_plan(gpus, RayOptions(gpus_per_worker=0, workers=3)) == (3, 0.0, 10)
    cpus = FakeCluster(nodes=3, cpus_each=8, gpus_each=0)
    assert encoder_plan(cpus, RayOptions()) == (3, 0.0, 8)
    with pytest.raises(StylesimError, match="--num-gpus-per-worker 1: the Ray cluster has 0 GPUs"):
        encoder_plan(cpus, RayOptions(gpus_per_worker=1))
