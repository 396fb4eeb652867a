"""The benchmark's data readers, on files made here (the Debian packages themselves are
fetched only by scripts/eval_retrieval.py)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from PIL import Image

from stylesim.evaluation.sets.debian import read_gimp_pattern
from stylesim.evaluation.sets.textures import random_crop, recolour
from tests.conftest import photo


def write_pattern(path, pixels: np.ndarray, name: bytes = b"Test") -> None:
    h, w, depth = pixels.shape
    header = struct.pack(">5I", 24 + len(name) + 1, 1, w, h, depth) + b"GPAT" + name + b"\0"
    path.write_bytes(header + pixels.astype(np.uint8).tobytes())


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_gimp_pattern_reader(tmp_path, depth):
    rng = np.random.default_rng(depth)
    pixels = rng.integers(0, 256, (5, 7, depth))
    if depth in (2, 4):
        pixels[..., -1] = 255
        pixels[0, 0, -1] = 0  # one transparent pixel: white
    write_pattern(tmp_path / "p.pat", pixels)
    img = np.asarray(read_gimp_pattern(tmp_path / "p.pat"))
    assert img.shape == (5, 7, 3)
    expected = np.repeat(pixels[..., :1], 3, axis=2) if depth < 3 else pixels[..., :3]
    assert np.array_equal(img[1:], expected[1:]) and np.array_equal(img[0, 1:], expected[0, 1:])
    assert np.array_equal(img[0, 0], [255, 255, 255] if depth in (2, 4) else expected[0, 0])


def test_not_a_pattern_is_refused(tmp_path):
    (tmp_path / "x.pat").write_bytes(b"\0" * 64)
    with pytest.raises(ValueError, match="not a GIMP pattern"):
        read_gimp_pattern(tmp_path / "x.pat")


def test_crops_and_recolouring():
    rng = np.random.default_rng(0)
    pattern = Image.fromarray(photo("coffee", 64))
    crop = random_crop(pattern, 96, rng)
    assert crop.size == (96, 96)
    recoloured = recolour(crop, rng)
    value = lambda im: np.asarray(im.convert("HSV"))[..., 2].astype(int)  # noqa: E731
    assert np.abs(value(recoloured) - value(crop)).mean() < 3  # brightness kept
    assert np.abs(np.asarray(recoloured, int) - np.asarray(crop, int)).mean() > 5  # colours changed


def test_unseen_looks_are_new_and_change_the_photo(tmp_path):
    from stylesim.evaluation.sets.grid import LOOKS, UNSEEN_LOOKS, build_grid

    assert not set(UNSEEN_LOOKS) & set(LOOKS)
    rows = build_grid(tmp_path, ("chelsea",), ("photo", *UNSEEN_LOOKS), size=96)
    assert [look for _, look, _ in rows] == ["photo", *UNSEEN_LOOKS]
    original = np.asarray(Image.open(rows[0][0]), int)
    for path, look, _ in rows[1:]:
        rendered = np.asarray(Image.open(path), int)
        assert rendered.shape == original.shape, look
        assert np.abs(rendered - original).mean() > 2, look  # a visible change, however subtle
