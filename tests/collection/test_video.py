"""Video frames: sampling, timing, rotation, damaged files, and the index/search/frame commands
on small real videos made from real photos (scripts/sample_videos.py)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import sample_videos
from PIL import Image
from typer.testing import CliRunner

from stylesim.cli import app
from stylesim.collection.timecode import parse_seconds, split_frame_reference
from stylesim.collection.video import SampleReport, Sampling, extract_frame, sample_video
from stylesim.errors import DecodeError, StylesimError
from stylesim.index.store import IndexStore
from tests.conftest import TEST_SIZE, photo

FPS = 10
DEFAULT_SAMPLING = Sampling()  # the sampler's defaults (a frozen dataclass, shared safely)
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    out = tmp_path_factory.mktemp("clips")
    starts = sample_videos.build_clips(out, fps=FPS)
    return out, starts


def sample(path, sampling=DEFAULT_SAMPLING):
    report = SampleReport()
    frames = list(sample_video(str(path), sampling, TEST_SIZE, report))
    return frames, report


def test_every_scene_sampled_at_its_cut_and_static_shot_collapsed(clips):
    folder, starts = clips
    frames, report = sample(folder / "scenes.mp4")
    times = [f.time for f in frames]
    for start in starts["scenes.mp4"]:  # a sample at every cut, exact to one frame
        assert min(abs(t - start) for t in times) < 1 / FPS + 1e-6, (start, times)
    assert [f.index for f in frames] == [round(t * FPS) for t in times]
    zoom = [t for t in times if t >= 4.0]
    assert 1 <= len(zoom) <= 6  # a 3 s slow zoom (30 frames) gives a few samples, not 30
    assert (
        report.decoded == 70
        and report.info.duration == pytest.approx(7.0)
        and report.info.fps == pytest.approx(FPS)
    )
    static, _ = sample(folder / "static.mp4")
    assert len(static) == 1  # 12 s of one picture: one sample, even past the 10 s gap


def test_every_and_keyframes_modes(clips):
    folder, _ = clips
    frames, _ = sample(folder / "scenes.mp4", Sampling("every", 1.0))
    times = [f.time for f in frames]
    assert all(abs(t - round(t)) < 1e-6 for t in times)  # on the 1 s ticks
    assert {0.0, 2.0, 4.0} <= set(times) and 1.0 not in times  # 1 s repeats 0 s: collapsed
    static, _ = sample(folder / "static.mp4", Sampling("every", 1.0))
    assert len(static) == 1
    keys, report = sample(folder / "scenes.mp4", Sampling("keyframes"))
    assert keys and keys[0].time == 0.0 and report.decoded < 70


def test_rotation_metadata_is_applied(clips):
    folder, _ = clips
    frames, report = sample(folder / "portrait.mp4")
    assert report.info.rotation == 90 and (report.info.width, report.info.height) == (144, 192)
    assert all(f.pixels.shape[0] > f.pixels.shape[1] for f in frames)  # portrait, as displayed
    image, t, index = extract_frame(str(folder / "portrait.mp4"), 0.0)
    assert image.size == (144, 192) and t == 0.0 and index == 0
    source = sample_videos.shot_frames(sample_videos.Shot(photo("camera", 384), 3, "pan"), FPS, 144, 192)[0]
    assert np.abs(np.asarray(image, np.float32) - source).mean() < 12  # upright, not turned


def test_extract_frame_finds_the_frame_a_printed_time_names(clips):
    folder, _ = clips
    video = str(folder / "scenes.mp4")
    assert extract_frame(video, 2.0)[1:] == (2.0, 20)
    assert extract_frame(video, 2.099)[1:] == (2.0, 20)  # still frame 20 until 2.1 s
    assert extract_frame(video, 6.9)[1:] == (pytest.approx(6.9), 69)
    with pytest.raises(StylesimError, match="past the end"):
        extract_frame(video, 30.0)


def test_truncated_video_keeps_its_good_frames(clips, tmp_path):
    folder, _ = clips
    data = (folder / "scenes.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.5)])
    frames, report = sample(cut)
    assert frames and report.problem and "truncated" in report.problem
    assert max(f.time for f in frames) < 7.0
    stub = tmp_path / "stub.mp4"
    stub.write_bytes(data[:2000])
    with pytest.raises(DecodeError):
        sample(stub)


def test_a_recorded_sampling_reads_back_as_the_sampling_that_wrote_it():
    for sampling in (Sampling(), Sampling("every", 2.5), Sampling("scenes", 4.0), Sampling("keyframes")):
        assert Sampling.from_spec(sampling.spec()).spec() == sampling.spec()
    assert Sampling.from_spec("every:0.5s") == Sampling("every", 0.5)
    for bad in ("every", "every:2", "keyframes:2s", "every:soon"):
        with pytest.raises(StylesimError, match=f"sampling '{bad}': not a recorded video sampling"):
            Sampling.from_spec(bad)
    with pytest.raises(StylesimError, match="unknown sampling mode 'often'"):
        Sampling.from_spec("often:2s")
    with pytest.raises(StylesimError, match="must be positive"):
        Sampling.from_spec("every:-1s")


def test_time_syntax():
    assert parse_seconds("2s") == 2 and parse_seconds("500ms") == 0.5 and parse_seconds("1.5") == 1.5
    assert (
        parse_seconds("01:05") == 65 and parse_seconds("00:01:05.250") == 65.25 and parse_seconds("2m") == 120
    )
    assert split_frame_reference("/a/b@c/talk.mp4@00:01:05") == ("/a/b@c/talk.mp4", 65.0)
    assert split_frame_reference("me@home.jpg") is None
    with pytest.raises(StylesimError, match="not a time"):
        parse_seconds("soon")


def test_index_search_group_frame_and_reindex(clips, tmp_path):
    folder, starts = clips
    collection = tmp_path / "collection"
    shutil.copytree(folder, collection / "clips")
    Image.fromarray(photo("rocket", 160)).save(collection / "rocket.jpg")
    index = tmp_path / "index"

    first = run("index", collection, "--index", index, "--size", TEST_SIZE, "-q")
    assert first.exit_code == 0, first.output
    facts = json.loads(run("info", "--index", index, "--json").stdout)
    assert facts["videos"] == 3 and facts["images"] == 1 and facts["frames"] == facts["items"] - 1

    # A content query with a source photo finds its scene first, at the cut.
    query = tmp_path / "chelsea.png"
    Image.fromarray(photo("chelsea", 200)).save(query)
    found = json.loads(
        run("search", query, "--by", "content", "-k", "3", "-f", "json", "--index", index).stdout
    )[0]["results"]
    assert found[0]["kind"] == "frame" and found[0]["video"].endswith("scenes.mp4")
    assert found[0]["time"] == pytest.approx(starts["scenes.mp4"][1], abs=1 / FPS)

    # Grouped: videos ranked by their best frame, each with its best moments.
    grouped = json.loads(
        run(
            "search", query, "--by", "style", "-k", "4", "--group-by", "video", "-f", "json", "--index", index
        ).stdout
    )[0]["results"]
    assert len(grouped) == 4 and len({g["path"] for g in grouped}) == 4
    videos = [g for g in grouped if g["kind"] == "video"]
    assert len(videos) == 3 and all(1 <= len(g["moments"]) <= 3 for g in videos)
    assert all(g["score"] == g["moments"][0]["score"] for g in videos)
    scores = [g["score"] for g in grouped]
    assert scores == sorted(scores, reverse=True)
    table = run("search", query, "--group-by", "video", "-k", "2", "--index", index).stdout
    assert "@ 00:00:0" in table

    # A frame of an indexed video as the query: the frame itself comes first.
    reference = f"{collection / 'clips' / 'scenes.mp4'}@00:00:02.500"
    hit = json.loads(
        run("search", reference, "--by", "content", "-k", "1", "-f", "json", "--index", index).stdout
    )[0]["results"][0]
    assert hit["video"].endswith("scenes.mp4") and hit["time"] == pytest.approx(2.0)
    bad = run("search", collection / "clips" / "scenes.mp4", "--index", index)
    assert bad.exit_code == 1 and "@TIME" in bad.output

    # `frame` writes the picture a result points to.
    out = tmp_path / "f.png"
    extracted = run("frame", f"{collection / 'clips' / 'portrait.mp4'}@00:00:01.000", "--out", out)
    assert extracted.exit_code == 0 and extracted.stdout.strip() == str(out)
    assert Image.open(out).size == (144, 192)

    # Unchanged videos are skipped; a new sampling re-samples; a damaged file keeps good frames.
    again = run("index", collection, "--index", index, "--size", TEST_SIZE, "-q")
    assert again.exit_code == 0 and " 0 added" in again.output and "4 files unchanged" in again.output
    every = run(
        "index",
        collection / "clips" / "static.mp4",
        "--every",
        "1s",
        "--index",
        index,
        "--size",
        TEST_SIZE,
        "-q",
    )
    assert every.exit_code == 0 and " 1 added" in every.output
    facts2 = json.loads(run("info", "--index", index, "--json").stdout)
    assert facts2["items"] == facts["items"]  # the old sample of static.mp4 was replaced
    plain = run("index", collection, "--index", index, "--size", TEST_SIZE, "-q")  # no sampling option
    assert plain.exit_code == 0 and " 0 added" in plain.output  # static.mp4 keeps its --every sample
    static = collection / "clips" / "static.mp4"
    os.utime(static, ns=(static.stat().st_atime_ns, static.stat().st_mtime_ns + 10**9))  # changed on disk
    changed = run("index", collection, "--index", index, "--size", TEST_SIZE, "-q")
    assert changed.exit_code == 0 and " 1 added" in changed.output  # sampled again, as it was indexed:
    frames_of_static = IndexStore.open(index).items.query("video == @static.as_posix()")
    assert set(frames_of_static["sampling"]) == {"every:1s"}  # not the default scenes
    scenes = run("index", collection / "clips" / "static.mp4", "--scenes", "--index", index, "-q")
    assert scenes.exit_code == 0 and " 1 added" in scenes.output  # asked for: re-sampled
    data = (collection / "clips" / "scenes.mp4").read_bytes()
    (collection / "clips" / "scenes.mp4").write_bytes(data[: len(data) // 2])
    damaged = run("index", collection / "clips" / "scenes.mp4", "--index", index, "--size", TEST_SIZE, "-q")
    assert damaged.exit_code == 3 and "damaged:" in damaged.output and "truncated" in damaged.output
    facts3 = json.loads(run("info", "--index", index, "--json").stdout)
    assert facts3["videos"] == 3 and 1 <= facts3["frames"] < facts["frames"]
    (collection / "clips" / "portrait.mp4").unlink()
    removed = run("index", collection, "--index", index, "--size", TEST_SIZE, "-q")
    assert (
        removed.exit_code == 0 and json.loads(run("info", "--index", index, "--json").stdout)["videos"] == 2
    )


def test_variable_frame_rate_times_come_from_timestamps(tmp_path):
    a, c = (
        np.asarray(Image.fromarray(photo(name, 160)).resize((128, 96))) for name in ("astronaut", "chelsea")
    )
    times = [0, 40, 80, 500, 540, 1700, 1733, 1766, 3000]  # ms, irregular
    pictures = [a if t < 1700 else c for t in times]
    video = tmp_path / "vfr.mp4"
    sample_videos.write_timed_video(video, pictures, times)
    frames, report = sample(video)
    assert [(f.time, f.index) for f in frames] == [(0.0, 0), (1.7, 5)]  # the cut, at its own time
    assert report.info.duration >= 3.0
    assert extract_frame(str(video), 0.6)[1:] == (0.54, 4)  # the frame shown at 0.6 s
    assert extract_frame(str(video), 1.75)[1:] == (1.733, 6)


def test_server_takes_frame_queries_and_groups_by_video(clips, tmp_path):
    """The server's ``frame:VIDEO@TIME`` query is the indexed frame shown at that time (left out
    of its results unless include_query, as every indexed query); ``group_by=video``
    gives videos with at most ``moments`` moments each; ``moments=0`` is a 400."""
    from fastapi.testclient import TestClient

    from stylesim.server import ServeConfig, create_app

    folder, _ = clips
    index = tmp_path / "index"
    assert run("index", folder, "--index", index, "--size", TEST_SIZE, "-q").exit_code == 0
    with TestClient(create_app(ServeConfig({"clips": index}))) as c:
        frame = f"frame:{folder / 'scenes.mp4'}@00:00:02.500"
        asked = {"q": frame, "by": "content", "k": 1}
        hit = c.get("/search", params={**asked, "include_query": True}).json()[0]["results"][0]
        assert hit["video"].endswith("scenes.mp4") and hit["time"] == pytest.approx(2.0)  # the scene's cut
        other = c.get("/search", params=asked).json()[0]["results"][0]
        assert (other["video"], other["time"]) != (hit["video"], hit["time"])
        grouped = c.get("/search", params={"q": frame, "k": 3, "group_by": "video", "moments": 1}).json()
        videos = grouped[0]["results"]
        assert len(videos) == 3 and all(g["kind"] == "video" and len(g["moments"]) == 1 for g in videos)
        refused = c.get("/search", params={"q": frame, "group_by": "video", "moments": 0})
        assert refused.status_code == 400 and "moments" in refused.json()["error"]
