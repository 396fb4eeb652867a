"""``stylesim eval``: measure retrieval on a labelled collection, or on built-in sets by name."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from stylesim.cli.app import app, choice, err, reports_errors
from stylesim.cli.options import PRECISIONS, Device, Precision, Size
from stylesim.errors import UsageError

SUMMARY = ("style", "style-relative", "gram", "adain", "colour", "colour histogram", "thumbnail")


@app.command("eval")
@reports_errors
def evaluate(
    target: Annotated[
        str,
        typer.Argument(
            metavar="FOLDER|SETS",
            help="A labelled folder, or built-in sets by name, comma-separated "
            "(grid, grid-unseen, textures, textures-recoloured, icons, fonts, wallpapers, artwork, "
            "near-duplicates, adain; built from scikit-image's photos and Debian packages; adain "
            "needs an AdaIN decoder).",
        ),
    ],
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
    """Measure style and content retrieval on FOLDER, or on built-in SETS: P@1, P@5, mAP@10, CSD
    mAP@10, Recall@10 and leakage per descriptor, with colour-histogram and thumbnail baselines;
    for several sets, a table of style mAP@10 per set at the end."""
    options: dict[str, Any] = {
        "size": size, "uncompressed": uncompressed, "compression": sweep_compression,
        "fusion": sweep_fusion, "device": device, "log": err.print,
        "precision": choice(precision, PRECISIONS, "--precision"),
    }  # fmt: skip
    folder = Path(target)
    if folder.exists() or labels is not None:
        reports = {str(folder): evaluate_folder(folder, labels or folder / "labels.csv", options)}
    else:
        reports = evaluate_sets(built_in_names(target), options)
    if len(reports) > 1:
        sys.stdout.write(summary_table(reports))
    if as_json:
        only = next(iter(reports.values())) if folder.exists() else reports
        as_json.write_text(json.dumps(only, indent=2) + "\n")


def built_in_names(target: str) -> list[str]:
    """The set names of ``target`` (UsageError naming what is neither a folder nor a set)."""
    from stylesim.evaluation.sets import SETS

    names = [n.strip() for n in target.split(",") if n.strip()]
    unknown = [n for n in names if n not in SETS]
    if unknown or not names:
        raise UsageError(
            f"{target}: no such folder, and {', '.join(unknown) or 'nothing'} is not a built-in set "
            f"({', '.join(SETS)})"
        )
    return names


def evaluate_folder(
    folder: Path, labels: Path, options: dict[str, Any], unlabelled: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """One folder's report, printed as it is measured."""
    from stylesim.evaluation.harness import evaluate_collection, render_report

    report = evaluate_collection(folder, labels, unlabelled_styles=unlabelled, **options)
    sys.stdout.write(render_report(report))
    return report


def evaluate_sets(names: list[str], options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each built-in set built in a temporary folder, then measured; a set that cannot be built
    here (a package apt cannot fetch, no AdaIN decoder) is skipped with the reason, and the
    run fails only when none could be measured."""
    from stylesim.evaluation.sets import DataUnavailable, build_set

    reports = {}
    for name in names:
        err.print(f"building the {name} set", markup=False)
        with tempfile.TemporaryDirectory(prefix=f"stylesim-{name}-") as tmp:
            try:
                built = build_set(name, Path(tmp), log=lambda m: err.print(m, markup=False))
            except DataUnavailable as why:
                err.print(f"{name}: skipped ({why})", markup=False)
                continue
            sys.stdout.write(f"== {name}\n")
            reports[name] = evaluate_folder(
                built.folder, built.folder / "labels.csv", options, built.unlabelled_styles
            )
    if not reports:
        raise DataUnavailable(f"none of {', '.join(names)} could be built here (reasons above)")
    return reports


def summary_table(reports: dict[str, dict[str, Any]]) -> str:
    """Style mAP@10 of each mode and baseline, one row per set."""
    lines = [f"\n{'style mAP@10':<22}" + "".join(f"{c:>18}" for c in SUMMARY)]
    for name, report in reports.items():
        results = report["results"]
        cells = [
            results[c]["style"].get("mAP@10", float("nan")) if c in results else float("nan") for c in SUMMARY
        ]
        lines.append(f"{name:<22}" + "".join(f"{v:>18.3f}" for v in cells))
    return "\n".join(lines) + "\n"
