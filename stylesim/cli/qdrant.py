"""``stylesim export-qdrant``: write an index into a Qdrant collection, to search and serve it
from there (``stylesim search --qdrant URL --collection NAME``)."""

from __future__ import annotations

from typing import Annotated

import typer

from stylesim.cli.app import app, at_least, err, reports_errors
from stylesim.cli.options import Collection, IndexDir, Qdrant, Quiet
from stylesim.cli.progress import Reporter
from stylesim.errors import UsageError


@app.command("export-qdrant")
@reports_errors
def export_qdrant(
    index_dir: IndexDir = None,
    qdrant: Qdrant = None,
    collection: Collection = None,
    batch: Annotated[int, typer.Option("--batch", help="Items written at a time (resumable steps).")] = 256,
    quiet: Quiet = False,
) -> None:
    """Write every item of the index into a Qdrant collection (created when missing): one point per
    item with its named vectors (gram, adain, content, colour, style, style-relative) and its
    metadata, plus what a search needs (the manifest, standardisation, version threshold).
    Running it again resumes an interrupted export, or brings the collection up to date."""
    from stylesim import api

    if not (qdrant and collection):
        raise UsageError("export-qdrant needs --qdrant URL|FOLDER and --collection NAME")
    at_least(batch, 1, "--batch")
    with Reporter(err, quiet) as progress:
        report = api.export_qdrant(
            qdrant,
            collection,
            index_dir,
            batch,
            on_plan=lambda total: progress.start("exporting", total),
            on_progress=progress.advance,
        )
    err.print(
        f"{qdrant} collection {collection}: {report.items} items ({report.written} written, "
        f"{report.kept} already there, {report.removed} removed) in {report.seconds:.1f} s"
    )
