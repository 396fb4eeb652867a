"""The evaluation harness on the small real grid: every descriptor and baseline is measured,
the content descriptor finds the same photo, the compression sweep reports sizes and bytes."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from stylesim.cli import app
from stylesim.evaluation.harness import COMPRESSION_DIMS, evaluate_collection, render_report
from tests.conftest import GRID_LOOKS, GRID_PHOTOS, TEST_SIZE


def test_harness_reports_every_descriptor_baseline_and_sweep(grid_dir):
    report = evaluate_collection(grid_dir, grid_dir / "labels.csv", size=TEST_SIZE, unlabelled_styles={"photo"}, uncompressed=False, compression=True)
    assert report["n"] == len(GRID_PHOTOS) * len(GRID_LOOKS) and report["styles"] == len(GRID_LOOKS) - 1
    assert {"gram", "adain", "content", "colour", "style", "style-relative", "thumbnail"} <= set(report["results"])
    content = report["results"]["content"]["content"]
    assert content["mAP@10"] >= 0.9 and content["leakage@5"] <= 0.5  # the same photo in other looks
    assert set(report["per_style"]) == set(report["per_style_relative"]) == set(GRID_LOOKS) - {"photo"}
    dims = [row["dim"] for row in report["compression"]]
    assert dims[:-1] == list(COMPRESSION_DIMS) and dims[-1] > 100_000  # the full vector last
    assert all(row["bytes_per_item"] == 2 * row["dim"] for row in report["compression"][:-1])
    text = render_report(report)
    assert "thumbnail" in text and "gram compression" in text and "(--by style-relative)" in text


def test_eval_command_writes_json(grid_dir, tmp_path):
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["eval", str(grid_dir), "--size", str(TEST_SIZE), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "style mAP@10" in result.stdout
    assert json.loads(out.read_text())["results"]["style"]["style"]["mAP@10"] > 0
    missing = CliRunner().invoke(app, ["eval", str(grid_dir), str(tmp_path / "nope.csv")])
    assert missing.exit_code == 1 and "labels file not found" in missing.output
