"""`stylesim restyle` end to end: styles retrieved from a tiny index through the core search,
outputs named content x style x method with the content's aspect ratio, the contact sheet."""

from __future__ import annotations

import re

from PIL import Image
from typer.testing import CliRunner

from stylesim.cli import app

# The two images of the 4 x 4 test grid that look most like the pencil coffee cup, once the cup
# and the cat (the content) are passed over in every look: the pencil looks of the two other
# photos, the only right answer on this grid.
EXPECTED_STYLES = ("pencil-astronaut", "pencil-rocket")


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_style_like_renders_the_top_hits_and_writes_a_contact_sheet(grid_dir, grid_index, tmp_path):
    content = grid_dir / "photo" / "chelsea.jpg"
    query = grid_dir / "pencil" / "coffee.jpg"
    out = tmp_path / "out"
    result = run(
        "restyle",
        "--method",
        "gatys",
        content,
        "--index",
        grid_index,
        "--style-like",
        query,
        "--top",
        2,
        "--size",
        64,
        "--steps",
        3,
        "--out",
        out,
        "-q",
    )
    assert result.exit_code == 0, result.output
    written = [line for line in result.stdout.splitlines() if line]
    assert len(written) == 2
    labels = []
    for path in written:
        name = re.fullmatch(r"chelsea__(.+)__gatys\.png", path.split("/")[-1])
        assert name
        labels.append(name.group(1))
        image, source = Image.open(path), Image.open(content)
        assert max(image.size) == 64 and abs(image.width / image.height - source.width / source.height) < 0.05
    assert tuple(labels) == EXPECTED_STYLES
    sheet = (out / "index.html").read_text()
    for path in written:
        assert path.split("/")[-1] in sheet
    for label in EXPECTED_STYLES:
        look, photo = label.split("-")
        assert str(grid_dir / look / f"{photo}.jpg") in sheet
    assert "score" in sheet and "structure correlation" in sheet
    assert all((out / ref).is_file() for ref in re.findall(r'src="([^"]+)"', sheet))


def test_several_styles_with_weights_make_one_blended_result(grid_dir, tmp_path):
    out = tmp_path / "out"
    result = run(
        "restyle",
        "--method",
        "gatys",
        grid_dir / "photo" / "rocket.jpg",
        "--style",
        grid_dir / "pencil" / "coffee.jpg",
        "--style",
        grid_dir / "duotone" / "astronaut.jpg",
        "--style-weights",
        "0.7,0.3",
        "--size",
        48,
        "--steps",
        2,
        "--out",
        out,
        "-q",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("rocket__coffee+astronaut__gatys.png")
    assert "weight 0.70" in (out / "index.html").read_text()
    bad = run(
        "restyle",
        grid_dir / "photo" / "rocket.jpg",
        "--style",
        grid_dir / "pencil" / "coffee.jpg",
        "--style-weights",
        "1,2",
        "--out",
        out,
    )
    assert bad.exit_code == 1 and "--style-weights" in bad.output
