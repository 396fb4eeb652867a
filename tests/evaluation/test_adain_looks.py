"""The adain set (stylesim/evaluation/sets/adain_looks.py): unavailable, with the reason, without
a decoder; with one, every photo in every style, labelled by style and photo. An untrained
decoder here, so nothing is about how the renders look."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from stylesim.encoding import resolve_weights
from stylesim.evaluation.sets import build_set
from stylesim.evaluation.sets.adain_looks import build_adain_looks
from stylesim.evaluation.sets.debian import DataUnavailable
from stylesim.evaluation.sets.grid import load_photo
from stylesim.transfer.adain import DECODER_ENV, AdaINDecoder, save_decoder
from tests.evaluation.test_art_sets import read_rows


def test_adain_set_needs_a_decoder_then_renders_every_photo_in_every_style(tmp_path, monkeypatch):
    monkeypatch.setenv(DECODER_ENV, str(tmp_path / "none.pt"))
    missing = r"renders with a decoder: no AdaIN decoder at .*none\.pt \(given by \$STYLESIM_ADAIN_DECODER\)"
    with pytest.raises(DataUnavailable, match=missing):
        build_set("adain", tmp_path / "set")
    assert not (tmp_path / "set").exists()

    decoder = tmp_path / "adain_decoder.pt"
    save_decoder(AdaINDecoder(), decoder, resolve_weights().sha256, "reflect", {"note": "untrained"})
    monkeypatch.setenv(DECODER_ENV, str(decoder))
    styles = [(name, Image.fromarray(load_photo(name, 96))) for name in ("brick", "gravel")]
    photos = ("chelsea", "coffee")
    rows = build_adain_looks(tmp_path / "set", photos, styles, size=64)
    assert [(style, content) for _, style, content in rows] == [
        (style, photo) for style in ("brick", "gravel") for photo in photos
    ]
    assert read_rows(tmp_path / "set") == [
        (path.relative_to(tmp_path / "set").as_posix(), style, content) for path, style, content in rows
    ]
    renders = {(style, content): np.asarray(Image.open(path)) for path, style, content in rows}
    assert all(max(r.shape[:2]) == 64 for r in renders.values())
    for photo in photos:  # each style gives the photo another look
        assert not np.array_equal(renders["brick", photo], renders["gravel", photo])
