"""``stylesim eval``: measure retrieval on a labelled collection."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from stylesim.cli.app import app, choice, err, reports_errors
from stylesim.cli.options import PRECISIONS, Device, Precision, Size


@app.command("eval")
@reports_errors
def evaluate(
    folder: Annotated[Path, typer.Argument(help="A labelled collection.")],
    labels: Annotated[
        Path | None, typer.Argument(help="CSV path,style,content (default FOLDER/labels.csv).")
    ] = None,
    size: Size = 256,
    as_json: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON here.")
    ] = None,
    uncompressed: Annotated[
        bool, typer.Option(help="Add the uncompressed Gram vector (a second pass).")
    ] = False,
    sweep_compression: Annotated[
        bool, typer.Option(help="Gram sketch sizes 256..4096 against quality.")
    ] = False,
    sweep_fusion: Annotated[
        bool, typer.Option(help="Rank every gram/adain/colour weighting of --by style.")
    ] = False,
    device: Device = "auto",
    precision: Precision = "auto",
) -> None:
    """Measure style and content retrieval on FOLDER: P@1, P@5, mAP@10, CSD mAP@10, Recall@10 and
    leakage per descriptor, with colour-histogram and thumbnail baselines."""
    from stylesim.evaluation.harness import evaluate_collection, render_report

    report = evaluate_collection(
        folder, labels or folder / "labels.csv", size=size, uncompressed=uncompressed,
        compression=sweep_compression, fusion=sweep_fusion, device=device, log=err.print,
        precision=choice(precision, PRECISIONS, "--precision"),
    )  # fmt: skip
    sys.stdout.write(render_report(report))
    if as_json:
        as_json.write_text(json.dumps(report, indent=2) + "\n")
