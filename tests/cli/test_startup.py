"""Help, usage errors and index facts answer without importing torch (about 2 s of the 2.2 s a
command took before): the model's modules are imported only when a command needs the model."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from stylesim.cli import main
sys.argv = ["stylesim", *sys.argv[1:]]
try:
    main()
except SystemExit as end:
    code = end.code
print("torch imported" if "torch" in sys.modules else "torch not imported", file=sys.stderr)
"""

CASES = [
    (["--help"], None),
    (["-h"], None),
    (["--version"], None),
    (["search", "--help"], None),
    (["search", "--by", "texture", "q.jpg"], "--by 'texture'"),
    (["search", "-k", "0", "q.jpg"], "-k 0"),
    (["search", "--format", "xml", "q.jpg"], "--format 'xml'"),
    (["index", "--size", "8", "photos"], "--size 8"),
    (["restyle", "c.jpg"], "give either --style"),
    (["restyle", "c.jpg", "--style", "s.jpg", "--method", "paint"], "--method 'paint'"),
    (["serve", "--port", "0"], "--port 0"),
    (["export-qdrant"], "needs --qdrant"),
]


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(argv) for argv, _ in CASES])
def test_answers_without_the_model(argv, message):
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], check=False, capture_output=True, text=True)
    assert done.stderr.strip().endswith("torch not imported"), done.stderr
    if message:
        assert message in done.stderr


def test_index_facts_need_no_model(grid_index):
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "info", "--index", str(grid_index)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert "items        16" in done.stdout
    assert done.stderr.strip().endswith("torch not imported"), done.stderr
