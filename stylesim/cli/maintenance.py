"""``stylesim compact`` and ``stylesim prune``: keeping an index in shape."""

from __future__ import annotations

from stylesim.cli.app import app, err, reports_errors
from stylesim.cli.options import IndexDir, Quiet
from stylesim.cli.progress import show_index_steps


@app.command()
@reports_errors
def compact(index_dir: IndexDir = None, quiet: Quiet = False) -> None:
    """Merge the index's segments into one (deleted items go for good; searches touch one
    segment). Upgrades an index made by stylesim 0.1 in place, without re-encoding."""
    from stylesim import api

    show_index_steps(err, quiet)
    report = api.compact_index(index_dir)
    root = api.resolve_index_dir(index_dir)
    err.print(
        f"{root}: {report.segments_before} segment(s) -> {report.segments_after}, "
        f"{report.items} items, {report.disk_before / 1e6:.1f} MB -> {report.disk_after / 1e6:.1f} MB "
        f"({report.seconds:.1f} s)"
    )


@app.command()
@reports_errors
def prune(index_dir: IndexDir = None, quiet: Quiet = False) -> None:
    """Drop the items whose files no longer exist (also under folders that are gone), and the
    skip records of gone files. The paths dropped are printed on stdout."""
    import sys

    from stylesim import api

    show_index_steps(err, quiet)
    report = api.prune_index(index_dir)
    sys.stdout.write("".join(f"{path}\n" for path in report.files))
    root = api.resolve_index_dir(index_dir)
    err.print(
        f"{root}: {report.removed} items of {len(report.files)} gone files removed, "
        f"{report.skips_dropped} skip records dropped; {report.items} items ({report.seconds:.1f} s)"
    )
