"""The live progress bar on a terminal shows file names as they are (a name holding "[/b]"
once raised a markup error, one holding "[bold]" lost it)."""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from stylesim.cli.progress import Reporter


def test_progress_bar_prints_names_that_look_like_markup():
    console = Console(file=StringIO(), force_terminal=True, width=120)  # markup on: the bar must not parse
    with Reporter(console) as progress:
        progress.start("indexing", 2)
        progress.advance(1, detail="drafts [/b] [bold]cut.jpg")
        progress.advance(1)
    shown = console.file.getvalue()
    assert progress.live and "drafts [/b] [bold]cut.jpg" in shown
