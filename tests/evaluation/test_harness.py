"""The evaluation harness. On a hand-built collection whose answers are known (three photos,
each saved twice with identical pixels, both labels naming the photo) every descriptor and
baseline must score exactly: the copy ranks first (mAP@10 = P@1 = 1) and the other four of the
top 5 are other photos (leakage@5 = 1/5). On the small real grid: every row is reported, the
content descriptor finds the same photo in other looks, the compression sweep reports sizes, the
fusion sweep ranks the weightings and agrees with ``--by style`` at the defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from stylesim.cli import app
from stylesim.evaluation.harness import (
    COMPRESSION_DIMS,
    DISCOUNTS,
    UNRULED_STYLE,
    evaluate_collection,
    render_report,
)
from stylesim.index.policy import STYLE_CONTENT_DISCOUNT
from tests.conftest import GRID_LOOKS, GRID_PHOTOS, TEST_SIZE, photo

ROWS = ("gram", "adain", "content", "colour", "style", "style-relative", "thumbnail")


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three photos, each saved twice with identical pixels; style = content = the photo."""
    folder = tmp_path_factory.mktemp("copies")
    lines = ["path,style,content"]
    for name in ("astronaut", "chelsea", "rocket"):
        for copy in ("a", "b"):
            Image.fromarray(photo(name, 128)).save(folder / f"{name}-{copy}.png")
            lines.append(f"{name}-{copy}.png,{name},{name}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_hand_built_collection_scores_exactly(copies):
    report = evaluate_collection(copies, copies / "labels.csv", size=TEST_SIZE, uncompressed=True)
    assert set(ROWS) | {"gram (uncompressed)"} <= set(report["results"])
    for name, row in report["results"].items():
        for label in ("style", "content"):
            assert row[label]["mAP@10"] == 1.0 and row[label]["P@1"] == 1.0, (name, label, row[label])
            assert row[label]["leakage@5"] == pytest.approx(0.2), (name, label, row[label])


def test_harness_reports_every_descriptor_baseline_and_sweep(grid_dir):
    report = evaluate_collection(
        grid_dir,
        grid_dir / "labels.csv",
        size=TEST_SIZE,
        unlabelled_styles={"photo"},
        uncompressed=False,
        compression=True,
        fusion=True,
    )
    assert report["n"] == len(GRID_PHOTOS) * len(GRID_LOOKS) and report["styles"] == len(GRID_LOOKS) - 1
    assert {"gram", "adain", "content", "colour", "style", "style-relative", "thumbnail"} <= set(
        report["results"]
    )
    content = report["results"]["content"]["content"]
    assert content["mAP@10"] >= 0.9  # the same photo in other looks
    assert set(report["per_style"]) == set(report["per_style_relative"]) == set(GRID_LOOKS) - {"photo"}
    dims = [row["dim"] for row in report["compression"]]
    assert dims[:-1] == list(COMPRESSION_DIMS) and dims[-1] > 100_000  # the full vector last
    assert all(row["bytes_per_item"] == 2 * row["dim"] for row in report["compression"][:-1])
    # the fusion sweep: the ten best weightings, best first, each summing to one; at the weights
    # --by style uses on this collection one row per content discount, the default discount's
    # being ``--by style`` itself (without the near-duplicate rule and the query expansion, which
    # the sweep leaves out)
    best = [row["mAP@10"] for row in report["fusion"]]
    assert len(best) == 10 and best == sorted(best, reverse=True)
    assert all(abs(row["gram"] + row["adain"] + row["colour"] - 1) < 1e-9 for row in report["fusion"])
    assert [row["discount"] for row in report["discount"]] == list(DISCOUNTS)
    at_default = next(row for row in report["discount"] if row["discount"] == STYLE_CONTENT_DISCOUNT)
    plain_style = report["results"][UNRULED_STYLE]["style"]["mAP@10"]
    assert at_default["mAP@10"] == pytest.approx(plain_style) and best[0] >= plain_style
    text = render_report(report)
    assert "thumbnail" in text and "gram compression" in text and "(--by style-relative)" in text
    assert "fusion sweep" in text and "content discount at the --by style weights" in text


def test_eval_command_writes_json(copies, tmp_path):
    out = tmp_path / "report.json"
    command = ["eval", str(copies), "--size", str(TEST_SIZE), "--json", str(out), "--sweep-fusion"]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "style mAP@10" in result.stdout and "fusion sweep" in result.stdout
    assert len(json.loads(out.read_text())["fusion"]) == 10
    style = json.loads(out.read_text())["results"]["style"]["style"]
    assert style["mAP@10"] == 1.0 and style["leakage@5"] == pytest.approx(0.2)
    missing = CliRunner().invoke(app, ["eval", str(copies), str(tmp_path / "nope.csv")])
    assert missing.exit_code == 1 and "labels file not found" in missing.output


def test_eval_command_builds_and_measures_a_built_in_set_by_name(tmp_path):
    """``stylesim eval near-duplicates``: the set is built from scikit-image's photos, indexed and
    measured; every photo's copies are found first by style. An unknown name is a usage error
    that lists the sets."""
    from stylesim.cli.evaluation import summary_table

    out = tmp_path / "report.json"
    command = ["eval", "near-duplicates", "--size", str(TEST_SIZE), "--json", str(out)]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "== near-duplicates" in result.stdout and "colour histogram" in result.stdout
    report = json.loads(out.read_text())["near-duplicates"]
    assert report["n"] == 132 and report["styles"] == 12  # 12 photos, their 5 copies, 5 other looks
    style = report["results"]["style"]["style"]
    assert style["P@1"] == 1.0 and style["mAP@10"] > 0.9, style
    table = summary_table({"one": report, "two": report})
    assert f"{style['mAP@10']:.3f}" in table and "\ntwo " in table
    unknown = CliRunner().invoke(app, ["eval", "near-duplicates,paintings"])
    assert unknown.exit_code == 2 and "paintings is not a built-in set" in unknown.output
    assert "wallpapers" in unknown.output
