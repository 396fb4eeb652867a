"""The segment store under faults and at the command line: a crash at every step of a commit,
a full disk, readers searching while commits run, approximate indexes, compact and prune."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from stylesim import api
from stylesim.cli import app
from stylesim.errors import StylesimError
from stylesim.index.store import IndexStore
from tests.conftest import TEST_SIZE

FAULT_STEPS = (
    "segment-sealing",  # the new items' segment is being sealed
    "rewrite-sealing",  # the refit's rewrite of every segment is being sealed
    "before-files",  # the commit starts
    "files-written",  # deletions, statistics and skips written, no generation yet
    "generation-written",  # the generation file written, CURRENT not switched
    "current-written",  # CURRENT switched, the journal not yet removed
)
MODES = ("style", "content", "style-relative")
runner = CliRunner()


def two_folders(grid_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """8 items (photos and pencil drawings), then 4 more (oil paintings of the same photos): the
    second run grows the index 1.5 times, so it re-fits the statistics and rewrites segments."""
    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(grid_dir / "photo", first / "photo")
    shutil.copytree(grid_dir / "pencil", first / "pencil")
    shutil.copytree(grid_dir / "oil", second / "oil")
    return first, second


def rankings(root: Path) -> dict[tuple[str, str], list[tuple[str, float]]]:
    """Per item and mode, its top 5 (path, score) searched with its stored vectors."""
    store = IndexStore.open(root)
    ids = store.ids()
    out = {}
    for by in MODES:
        for item, result in zip(ids, api.search_items(store, list(ids), by, k=5), strict=True):
            name = str(store.rows(np.array([item]))["path"].iloc[0])
            out[name, by] = [(r["path"], r["score"]) for r in result["results"]]
    return out


def assert_same_rankings(
    got: dict[tuple[str, str], list[tuple[str, float]]], want: dict[tuple[str, str], list[tuple[str, float]]]
) -> None:
    """The same neighbours with the same scores to 1e-4, rank by rank. bf16 encodings of one image in
    differently composed batches may differ in the 7th decimal, so two neighbours whose scores tie to
    1e-4 may swap places (or swap across the top-k cut), and nothing else may differ."""
    assert got.keys() == want.keys()
    for key, ranked in got.items():
        wanted = dict(want[key])
        assert [score for _, score in ranked] == pytest.approx([s for _, s in want[key]], abs=1e-4), key
        last = ranked[-1][1]
        for path, score in ranked:
            if path in wanted:
                assert score == pytest.approx(wanted[path], abs=1e-4), (key, path)
            else:  # only a near-tie at the cut may enter the top k in place of another
                assert score == pytest.approx(last, abs=1e-4), (key, path)


def index_command(folder: Path, root: Path, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, STYLESIM_FAULT=fault or "")
    cmd = [
        sys.executable,
        "-m",
        "stylesim",
        "index",
        str(folder),
        "--index",
        str(root),
        "--workers",
        "1",
        "-q",
    ]
    # check=False: the callers assert on the return code, with stderr as the message
    return subprocess.run(
        cmd + ["--size", str(TEST_SIZE)], capture_output=True, text=True, env=env, check=False
    )


def twelve_then_four(grid_dir: Path, tmp_path: Path, *options: str) -> tuple[Path, Path, Path]:
    """(first, second, index): 12 items (photos, pencil drawings, oil paintings) indexed, then 4
    more (duotones) in a second segment: too few added to re-fit and rewrite."""
    first, second = tmp_path / "first", tmp_path / "second"
    for look in ("photo", "pencil", "oil"):
        shutil.copytree(grid_dir / look, first / look)
    shutil.copytree(grid_dir / "duotone", second)
    root = tmp_path / "index"
    for folder in (first, second):
        made = runner.invoke(
            app, ["index", str(folder), "--index", str(root), "--size", "64", *options, "-q"]
        )
        assert made.exit_code == 0, made.output
    return first, second, root


@pytest.fixture(scope="module")
def clean_build(grid_dir, tmp_path_factory) -> tuple[Path, Path, Path]:
    """Both folders indexed without faults: (first folder, second folder, index)."""
    tmp = tmp_path_factory.mktemp("clean")
    first, second = two_folders(grid_dir, tmp)
    root = tmp / "index"
    api.build_index([first], root, size=TEST_SIZE)
    report = api.build_index([second], root, size=TEST_SIZE)
    assert report.refitted and len(IndexStore.open(root)) == 12
    return first, second, root


@pytest.mark.parametrize("step", FAULT_STEPS)
def test_a_crash_at_any_commit_step_then_indexing_again_equals_a_clean_build(clean_build, tmp_path, step):
    first, second, clean = clean_build
    root = tmp_path / "index"
    api.build_index([first], root, size=TEST_SIZE)
    crashed = index_command(second, root, fault=f"{step}:crash")
    assert crashed.returncode == 70, crashed.stderr  # os._exit at the step: nothing cleaned up
    survivor = IndexStore.open(root)  # the index opens, at the old or the new generation
    assert len(survivor) in (8, 12)
    again = index_command(second, root)
    assert again.returncode == 0, again.stderr
    assert_same_rankings(rankings(root), rankings(clean))
    assert not list((root / "pending").glob("*")) and not list(root.glob("*.tmp"))


@pytest.mark.parametrize("step", ["before-files", "current-written"])
def test_a_file_removed_after_a_crash_stays_removed(grid_dir, tmp_path, step):
    """The journal a crashed run left (before its commit, or after it but before the journal
    was cleared) is merged once: a file deleted before the next run does not come back from it."""
    first, second = two_folders(grid_dir, tmp_path)
    root = tmp_path / "index"
    api.build_index([first], root, size=TEST_SIZE)
    crashed = index_command(second, root, fault=f"{step}:crash")
    assert crashed.returncode == 70 and list((root / "pending").glob("shard-*")), crashed.stderr
    gone = second / "oil" / "rocket.jpg"
    gone.unlink()
    again = index_command(second, root)
    assert again.returncode == 0, again.stderr
    store = IndexStore.open(root)
    assert str(gone) not in set(store.items["path"])
    assert len(store) == len(store.ids()) == 11 and store.items["path"].is_unique


@pytest.mark.parametrize("step", ["segment-sealing", "rewrite-sealing", "files-written"])
def test_a_full_disk_commits_nothing_and_loses_nothing(clean_build, tmp_path, monkeypatch, step):
    """The disk fills while the new items' segment is sealed, while the refit rewrites the
    segments, or while the commit writes its files: one error in our words, the index as it was."""
    first, second, clean = clean_build
    root = tmp_path / "index"
    api.build_index([first], root, size=TEST_SIZE)
    before = rankings(root)
    monkeypatch.setenv("STYLESIM_FAULT", f"{step}:enospc")
    with pytest.raises(
        StylesimError, match=r"the disk is full; nothing was committed .* run the same command again"
    ):
        api.build_index([second], root, size=TEST_SIZE)
    assert_same_rankings(rankings(root), before)  # the index as it was
    assert len(list((root / "pending").glob("shard-*.npz"))) >= 1  # what was encoded is kept
    monkeypatch.delenv("STYLESIM_FAULT")
    report = api.build_index([second], root, size=TEST_SIZE)
    assert report.resumed == 4 and report.added == 4  # merged from the journal, not encoded again
    assert_same_rankings(rankings(root), rankings(clean))


READER = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from stylesim.index.store import IndexStore
    root, stop = sys.argv[1], time.time() + float(sys.argv[2])
    searches, errors, sizes = 0, [], set()
    while time.time() < stop:
        try:
            store = IndexStore.open(root)
            ids = store.ids()
            query = store.style_of(ids[:2])
            scores, found = store.nearest("style", query, 3)
            store.rows(found[found >= 0])
            store.nearest("style-relative", store.relative_of(ids[:2]), 3)
            sizes.add(len(store))
            searches += 1
        except Exception as error:
            errors.append(f"{type(error).__name__}: {error}")
    print(json.dumps({"searches": searches, "errors": errors[:5], "sizes": sorted(sizes)}))
    """
)


def test_readers_search_without_errors_while_commits_run(grid_dir, tmp_path, monkeypatch):
    """Old files are deleted as soon as no generation since the previous one names them (grace
    period 0 here): a reader that opened a generation keeps its memory maps; one that catches a
    generation being replaced reads CURRENT again."""
    monkeypatch.setenv("STYLESIM_GRACE_SECONDS", "0")
    root = tmp_path / "index"
    api.build_index([grid_dir / "photo"], root, size=TEST_SIZE)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(root), "25"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for look in ("pencil", "oil", "duotone"):  # each grows the index: refit, rewrite, old files deleted
        folder = tmp_path / look
        shutil.copytree(grid_dir / look, folder)
        api.build_index([folder], root, size=TEST_SIZE)
    out, err = reader.communicate(timeout=120)
    report = json.loads(out)
    assert report["errors"] == [] and report["searches"] > 20, (report, err)
    assert set(report["sizes"]) <= {4, 8, 12, 16} and len(IndexStore.open(root)) == 16
    current = json.loads((root / (root / "CURRENT").read_text().strip()).read_text())
    previous = json.loads((root / current["previous"]).read_text())
    remaining = {p.name for p in (root / "segments").iterdir()}
    assert remaining <= set(current["segments"]) | set(previous["segments"])  # older ones deleted


def test_settings_are_inherited_and_prune_and_compact_keep_the_index_in_shape(grid_dir, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(grid_dir / "photo", first)
    shutil.copytree(grid_dir / "pencil", second)
    root = tmp_path / "index"
    made = runner.invoke(app, ["index", str(first), "--index", str(root), "--size", "64", "-q"])
    assert made.exit_code == 0, made.output
    added = runner.invoke(app, ["index", str(second), "--index", str(root), "-q"])  # no --size: kept
    assert added.exit_code == 0, added.output
    store = IndexStore.open(root)
    assert store.manifest["image_size"] == 64 and len(store) == 8

    (second / "chelsea.jpg").unlink()
    shutil.rmtree(first)  # a whole root gone
    pruned = runner.invoke(app, ["prune", "--index", str(root)])
    assert pruned.exit_code == 0, pruned.output
    assert sorted(pruned.stdout.split()) == sorted(
        [str(second / "chelsea.jpg")]
        + [str(first / f"{p}.jpg") for p in ("astronaut", "chelsea", "coffee", "rocket")]
    )
    store = IndexStore.open(root)
    assert sorted(store.items["path"]) == sorted(
        str(second / f"{p}.jpg") for p in ("astronaut", "coffee", "rocket")
    )

    compacted = runner.invoke(app, ["compact", "--index", str(root)])
    assert compacted.exit_code == 0, compacted.output
    store = IndexStore.open(root)
    assert len(store.segments) == 1 and len(store.segments[0]) == 3 and len(store.deleted) == 0
    hits = api.search_items(store, list(store.ids()), "content", k=1, include_query=True)
    assert all(h["results"][0]["id"] == i for h, i in zip(hits, store.ids(), strict=True))


def test_approximate_indexes_are_tuned_and_shown_by_info(grid_dir, grid_index, tmp_path):
    root = tmp_path / "index"
    made = runner.invoke(
        app,
        [
            "index",
            str(grid_dir),
            "--index",
            str(root),
            "--size",
            str(TEST_SIZE),
            "--index-type",
            "IVF2,Flat",
            "-q",
        ],
    )
    assert made.exit_code == 0, made.output
    info = json.loads(runner.invoke(app, ["info", "--index", str(root), "--json"]).stdout)
    assert info["index_type"] == "IVF2,Flat"
    spaces = info["segments"][0]["approximate"]
    assert set(spaces) == {"gram", "adain", "content", "colour", "coarse", "style", "style-relative"}
    assert all(s["param"] == "nprobe" and s["recall"] >= 0.95 for s in spaces.values()), spaces
    text = runner.invoke(app, ["info", "--index", str(root)]).stdout
    assert "style IVF2,Flat nprobe=" in text and "recall@10" in text
    # the tuned approximate search ranks as the exact one does
    assert_same_rankings(rankings(root), rankings(grid_index))
    bad = runner.invoke(app, ["index", str(grid_dir), "--index", str(root), "--index-type", "IVF,Nonsense"])
    assert bad.exit_code == 2 and "--index-type 'IVF,Nonsense': use auto, flat, ivf, hnsw" in bad.output


def test_candidates_are_rescored_exactly_from_the_float16_rows(grid_index):
    """The re-scoring products (FAISS's float16 scorer) equal the float32 vectors' products, in
    the order asked, for ids spread over the index in any order."""
    store = IndexStore.open(grid_index)
    ids = np.random.default_rng(0).permutation(store.ids())[:40]
    for name in store.descriptors:
        query = store.vectors_of(name, ids[:1])[0]
        expected = store.vectors_of(name, ids) @ query
        np.testing.assert_allclose(store.scores_of(name, ids, query), expected, atol=1e-5)
        assert store.scores_of(name, ids, query)[0] == pytest.approx(1.0, abs=2e-3)


def test_rows_read_from_the_files_equal_the_stored_rows_in_any_order(grid_index):
    """Vectors are read with one read per run of consecutive rows (not through the memory map):
    scattered rows, runs, repeats and any order give exactly the stored float16 rows."""
    segment = IndexStore.open(grid_index).segments[0]
    n = len(segment)
    rows = np.array([n - 1, 3, 4, 5, 0, 3, n - 1, 7, 6, 5, 2], np.int64)
    for name in segment.meta["descriptors"]:
        stored = np.asarray(segment.array(name), np.float32)
        np.testing.assert_array_equal(segment.vectors(name, rows), stored[rows])
        np.testing.assert_array_equal(segment.gather(name, np.arange(2, n - 1)), segment.array(name)[2:-1])
        assert segment.vectors(name, rows[:0]).shape == (0, stored.shape[1])


def test_rows_are_read_whole_when_the_system_returns_short_reads(grid_index, monkeypatch):
    """A read may return fewer bytes than asked (Linux: at most about 2 GB at once); the rows
    are still read whole, and a file cut short is an error naming it."""
    segment = IndexStore.open(grid_index).segments[0]
    real_preadv = os.preadv

    def short_preadv(fd: int, buffers: list[memoryview], offset: int) -> int:
        return real_preadv(fd, [buffers[0][:1000]], offset)  # 1 000 bytes at most

    monkeypatch.setattr(os, "preadv", short_preadv)
    rows = np.arange(len(segment))
    np.testing.assert_array_equal(segment.gather("gram", rows), segment.array("gram")[:])
    monkeypatch.setattr(os, "preadv", lambda fd, buffers, offset: 0)  # the end of the file
    with pytest.raises(OSError, match="gram.npy: shorter than its header says"):
        segment.gather("gram", rows[:2])


def test_a_segment_whose_items_were_all_replaced_is_dropped(grid_dir, tmp_path):
    """Every file of the second run changed (turned upside down): its segment holds no live
    item any more, and the automatic compaction drops it instead of failing."""
    _, second, root = twelve_then_four(grid_dir, tmp_path)
    assert [len(s) for s in IndexStore.open(root).segments] == [12, 4]
    for picture in second.iterdir():
        with Image.open(picture) as image:
            image.rotate(180).save(picture)
    again = runner.invoke(app, ["index", str(second), "--index", str(root), "-q"])
    assert again.exit_code == 0, again.output
    store = IndexStore.open(root)
    assert len(store) == 16 and len(store.deleted) == 0
    assert [len(s) for s in store.segments] == [12, 4]
    hits = api.search_items(store, list(store.ids()), "content", k=1, include_query=True)
    assert all(h["results"][0]["id"] == i for h, i in zip(hits, store.ids(), strict=True))


def test_recall_counts_a_tie_with_the_last_true_score_but_nothing_else():
    from stylesim.index.ann import recall_with_ties

    truth = (np.array([1, 2, 3]), np.array([0.9, 0.8, 0.7]))  # ids, exact scores
    assert recall_with_ties(np.array([1, 2, 3]), np.array([0.9, 0.8, 0.7]), *truth) == 1.0
    assert recall_with_ties(np.array([1, 2, 4]), np.array([0.9, 0.8, 0.7]), *truth) == 1.0  # 4: a copy of 3
    assert recall_with_ties(np.array([1, 2, 4]), np.array([0.9, 0.8, 0.6]), *truth) == 2 / 3
    assert recall_with_ties(np.array([1, 4, -1]), np.array([0.9, 0.95, -np.inf]), *truth) == 1 / 3


def test_tuning_holds_every_stratum_of_enough_queries_to_the_target_and_pools_the_rest():
    from stylesim.index.ann import MIN_STRATUM, stratified_recall

    many, few = MIN_STRATUM + 10, MIN_STRATUM - 5
    per_query = np.concatenate([np.full(many, 1.0), np.full(many, 0.9), np.full(few, 0.0)])
    strata = np.repeat([0, 1, 2], [many, many, few])
    assert stratified_recall(per_query) == pytest.approx(per_query.mean())
    assert stratified_recall(per_query, strata) == pytest.approx(per_query.mean())  # the mean is lowest
    assert stratified_recall(per_query[:-few], strata[:-few]) == pytest.approx(0.9)
    assert stratified_recall(np.full(few, 0.5), np.zeros(few, int)) == 0.5  # no stratum judged alone


def test_compacting_keeps_the_deletions_that_hide_relative_vectors_held_by_later_segments(grid_dir, tmp_path):
    """The second run's segment holds re-computed relative vectors of first-run items; when those
    files change, their old ids are deleted and the first segment is rewritten (heavy deletes).
    The deletions must outlive that rewrite, or the old ids come back as hits of
    ``--by style-relative`` with no item behind them."""
    first, _, root = twelve_then_four(grid_dir, tmp_path)
    store = IndexStore.open(root)
    older, later = store.segments
    held = np.intersect1d(later.relative_ids, older.ids)
    assert len(held), "the second segment holds no relative vector of a first-run item"
    changed = set(store.rows(held)["path"]) | {str(p) for p in sorted((first / "photo").iterdir())[:3]}
    for picture in changed:
        with Image.open(picture) as image:
            image.rotate(180).save(picture)
    again = runner.invoke(app, ["index", str(first), "--index", str(root), "-q"])
    assert again.exit_code == 0, again.output
    store = IndexStore.open(root)
    assert older.name not in [s.name for s in store.segments]  # rewritten by the policy
    live = set(store.ids().tolist())
    assert len(live) == 16
    for hit in api.search_items(store, sorted(live), "style-relative", k=16):
        assert {r["id"] for r in hit["results"]} <= live


def test_a_segment_added_to_a_larger_one_is_trained_as_it_and_tuned_on_its_own_items(grid_dir, tmp_path):
    """The second run's segment reuses the first segment's trained approximate index (PCA,
    coarse centroids, the codes' ranges) with its own items in it, and is still tuned."""
    import faiss

    _, _, root = twelve_then_four(grid_dir, tmp_path, "--index-type", "PCA8,IVF2,SQ8")
    store = IndexStore.open(root)
    larger, added = store.segments
    assert [len(larger), len(added)] == [12, 4]
    for space in ("gram", "content", "style"):
        indexes = [faiss.read_index(str(s.folder / f"ann-{space}.faiss")) for s in (larger, added)]
        pca = [faiss.downcast_VectorTransform(i.chain.at(0)) for i in indexes]
        ivf = [faiss.downcast_index(faiss.extract_index_ivf(i)) for i in indexes]
        assert np.array_equal(faiss.vector_to_array(pca[0].PCAMat), faiss.vector_to_array(pca[1].PCAMat))
        assert np.array_equal(ivf[0].quantizer.reconstruct_n(0, 2), ivf[1].quantizer.reconstruct_n(0, 2))
        assert np.array_equal(
            faiss.vector_to_array(ivf[0].sq.trained), faiss.vector_to_array(ivf[1].sq.trained)
        )
        assert indexes[1].ntotal == 4 and added.meta["spaces"][space]["recall"] >= 0.95
    hits = api.search_items(store, list(store.ids()), "content", k=1, include_query=True)
    assert all(h["results"][0]["id"] == i for h, i in zip(hits, store.ids(), strict=True))


def test_tuning_looks_up_the_exact_scores_it_would_otherwise_read(grid_index, monkeypatch):
    from stylesim.index import segment as segments
    from stylesim.index.spaces import style_weights

    store = IndexStore.open(grid_index)
    part, weights = store.segments[0], style_weights(store.descriptors, store.fusion)
    for space in ("content", "style", "style-relative"):
        query_ids, queries = segments.sample_space(part, space, weights, 20)
        found = np.random.default_rng(0).choice(part.ids, (len(queries), 7))
        found[:, 0] = -1
        table_truth, look_up = segments.tuning_reference(part, space, weights, queries)
        monkeypatch.setattr(segments, "TABLE_CELLS", 0)
        read_truth, read = segments.tuning_reference(part, space, weights, queries)
        monkeypatch.undo()
        assert np.array_equal(table_truth[1], read_truth[1]) and np.allclose(table_truth[0], read_truth[0])
        assert np.allclose(look_up(queries, found), read(queries, found), atol=1e-3), space


def test_cleanup_deletes_nothing_when_a_generation_cannot_be_read(grid_index, tmp_path, monkeypatch):
    """Old files are removed only when every generation naming files could be read: an I/O error
    on the committed one leaves everything in place (and the index opens)."""
    from stylesim.index import writing

    root = tmp_path / "index"
    shutil.copytree(grid_index, root)
    before = sorted(p.name for p in root.rglob("*") if p.is_file())
    monkeypatch.setenv("STYLESIM_GRACE_SECONDS", "0")
    store = IndexStore.open_for_writing(root)
    reading = Path.read_text

    def failing(path: Path, *args, **kwargs):
        if path.name.startswith("gen-"):
            raise OSError(5, "Input/output error")
        return reading(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", failing)
    writing.remove_unreferenced(store)
    monkeypatch.undo()
    store.close()
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == before
    assert len(IndexStore.open(root)) == len(IndexStore.open(grid_index))
