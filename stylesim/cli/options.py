"""Options that several commands share, declared once (typer's ``Annotated`` form). Values are
validated in the commands with our own messages (``app.choice``, ``app.at_least``), not by
Click's types, so a wrong value is reported in our words."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

SEARCH_MODES = ("style", "style-relative", "gram", "adain", "content", "colour")
FORMATS = ("table", "json", "csv", "paths")
PRECISIONS = ("auto", "fp32", "bf16")

IndexDir = Annotated[
    Path | None,
    typer.Option(
        "--index",
        "-i",
        envvar="STYLESIM_INDEX",
        show_default=False,
        help="Index folder (default: $STYLESIM_INDEX, else ~/.local/share/stylesim/indexes/default).",
    ),
]
Device = Annotated[
    str, typer.Option("--device", help="auto (CUDA if present, else CPU), cpu, cuda or cuda:N.")
]
Precision = Annotated[
    str,
    typer.Option(
        "--precision", help="auto (bf16 where the hardware has bf16 units, else fp32), fp32 or bf16."
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")]
Size = Annotated[
    int, typer.Option("--size", help="Encoder input: images are resized to about SIZE x SIZE px.")
]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
