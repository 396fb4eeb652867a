"""The ``stylesim`` command line: index, search, info, frame, compact, prune, export-qdrant, serve,
restyle, train-decoder, eval.

Data goes to stdout, progress and messages to stderr. Exit status: 0 success; 1 error (one line
on stderr naming the file or value and what is wrong); 2 usage error (one line: the value and
what is allowed); 3 ``index`` finished but met files it could not index in this run (listed)
or videos it could only partly decode; 130 interrupted (what was encoded is kept).

The commands import the API (and torch) only when they run, so ``--help``, ``--version`` and
usage errors answer at once.
"""

from stylesim.cli import (  # noqa: F401 - each registers its commands
    evaluation,
    indexing,
    maintenance,
    qdrant,
    searching,
    serving,
    transfer,
)
from stylesim.cli.app import app, main

__all__ = ["app", "main"]
