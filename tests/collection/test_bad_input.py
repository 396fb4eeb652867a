"""Every kind of bad input is skipped with its reason; every odd but valid image is indexed."""

import io
import os

import numpy as np
import pytest
from PIL import Image

from stylesim import api
from stylesim.cli.app import EXIT_SKIPPED, app
from stylesim.index.store import IndexStore
from tests.conftest import TEST_SIZE, photo


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    d = tmp_path_factory.mktemp("messy")
    real = Image.fromarray(photo("astronaut", 200))
    buf = io.BytesIO()
    real.save(buf, "JPEG")
    jpeg = buf.getvalue()
    bad = {
        "empty.jpg": "empty file",
        "truncated.jpg": "truncated",
        "notes.jpg": "not an image",
        "bomb.png": "decompression bomb",
        "dangling.png": "broken symbolic link",
        "loop_a.png": "symbolic link loop",
        "fifo.png": "not a regular file",
        "movie.mp4": "video",
    }
    (d / "empty.jpg").write_bytes(b"")
    (d / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (d / "notes.jpg").write_text("this is not a picture\n")
    Image.new("1", (12000, 10000)).save(d / "bomb.png")  # 120 MP, a few kB on disk
    os.symlink(d / "missing.png", d / "dangling.png")
    os.symlink(d / "loop_b.png", d / "loop_a.png")
    os.symlink(d / "loop_a.png", d / "loop_b.png")
    os.mkfifo(d / "fifo.png")
    (d / "movie.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    bad["loop_b.png"] = "symbolic link loop"
    # odd but valid
    good = d / "good"
    good.mkdir()
    rgb = photo("coffee", 120)
    Image.fromarray(rgb).convert("CMYK").save(good / "cmyk.jpg")
    Image.fromarray(photo("camera", 100)[..., 0].astype(np.uint16) * 257).save(good / "sixteen_bit.png")
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(
        good / "palette.png", transparency=0
    )
    rgba = Image.fromarray(rgb).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(good / "alpha.png")
    Image.new("RGB", (1, 1), (200, 30, 30)).save(good / "one_pixel.png")
    Image.fromarray(np.tile(rgb[:8], (1, 12, 1))).save(good / "extreme_aspect.png")  # 8 x 1440
    Image.fromarray(rgb).save(good / "café_日本 ünïcode.png")
    Image.fromarray(rgb).convert("L").save(good / "grey.tif")
    Image.fromarray(rgb).save(good / "anim.gif", save_all=True, append_images=[Image.fromarray(rgb[::-1])])
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90
    Image.fromarray(rgb).save(good / "rotated.jpg", exif=exif)
    os.symlink(d, good / "link_to_parent")  # a folder loop: must not recurse forever
    (good / "README.txt").write_text("ignored: not an image extension")
    return d, bad, sorted(p.name for p in good.iterdir() if p.suffix != ".txt" and not p.is_symlink())


def test_bad_files_skipped_with_reasons_and_odd_images_indexed(messy, tmp_path):
    d, bad, good = messy
    root = tmp_path / "index"
    report = api.build_index([d], root, size=TEST_SIZE)
    reasons = {os.path.basename(s.path): s.reason for s in report.skipped}
    for name, reason in bad.items():
        assert name in reasons, (name, reasons)
        assert reason in reasons[name], (name, reasons[name])
    store = IndexStore.open(root)
    indexed = sorted(os.path.basename(p) for p in store.items["path"])
    assert indexed == good
    items = store.items.set_index(store.items["path"].map(os.path.basename))
    assert (items.loc["extreme_aspect.png", "width"], items.loc["extreme_aspect.png", "height"]) == (1440, 8)
    assert (items.loc["rotated.jpg", "width"], items.loc["rotated.jpg", "height"]) == (
        80,
        120,
    )  # EXIF applied
    assert (items.loc["one_pixel.png", "width"], items.loc["one_pixel.png", "height"]) == (1, 1)
    # recorded in the index and shown by info
    info = api.index_info(root)
    assert {os.path.basename(s["path"]) for s in info["skipped"]} == set(bad)
    assert report.ignored == 1


def test_cli_exit_status_and_messages_for_skips(messy, tmp_path):
    from typer.testing import CliRunner

    d, bad, _ = messy
    result = CliRunner().invoke(
        app, ["index", str(d), "--index", str(tmp_path / "i"), "--size", str(TEST_SIZE), "-q"]
    )
    assert result.exit_code == EXIT_SKIPPED, result.output
    assert f"skipped: {d / 'truncated.jpg'}: truncated" in result.output
    info = CliRunner().invoke(app, ["info", "--index", str(tmp_path / "i")])
    assert info.exit_code == 0
    assert "notes.jpg: not an image" in info.output


def test_names_that_look_like_console_markup_are_printed_as_they_are(messy, tmp_path):
    """A path holding "[bold]" or "[/b]" is named in full, not read as a style tag (a closing tag
    once ended the command with an error after the work was done)."""
    from typer.testing import CliRunner

    d, _, _ = messy
    folder = tmp_path / "drafts ["
    folder.mkdir()
    odd = folder / "b] [bold]cut.jpg"  # the path reads ".../drafts [/b] [bold]cut.jpg"
    odd.write_bytes((d / "truncated.jpg").read_bytes())
    result = CliRunner().invoke(app, ["index", str(folder), "--index", str(tmp_path / "i"), "-q"])
    assert result.exit_code == EXIT_SKIPPED, result.output
    assert f"skipped: {odd}: truncated" in result.output


def test_sixteen_bit_keeps_its_range(messy):
    from stylesim.collection.decode import decode_for_encoding

    d, _, _ = messy
    img = decode_for_encoding(str(d / "good" / "sixteen_bit.png"), 64)
    assert img.pixels.max() > 200 and img.pixels.min() < 60  # scaled, not clipped to white


def test_explicit_missing_input_is_an_error(tmp_path):
    from stylesim.errors import StylesimError

    with pytest.raises(StylesimError, match="no such file or folder"):
        api.build_index([tmp_path / "nope"], tmp_path / "index", size=TEST_SIZE)
