"""AdaIN: the operation against its formula, interpolation, masks, and the decoder loader
(verification, the no-decoder message). No trained decoder exists yet, so nothing here judges
AdaIN output quality."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from stylesim.cli import app
from stylesim.descriptors.ops import channel_mean_std
from stylesim.encoding import resolve_weights
from stylesim.errors import StylesimError
from stylesim.transfer.adain import (
    AdaINDecoder,
    DecoderMissingError,
    adain,
    load_decoder,
    masked_adain,
    save_decoder,
    stylised_features,
)

g = torch.Generator().manual_seed(1)


def feats(h=6, w=8):
    return torch.rand((1, 16, h, w), generator=g) * 4 + torch.rand((1, 16, 1, 1), generator=g)


def test_adain_gives_the_content_the_style_statistics():
    c, s = feats(), feats(5, 5)
    out = adain(c, s)
    (m_out, s_out), (m_s, s_s) = channel_mean_std(out), channel_mean_std(s)
    assert torch.allclose(m_out, m_s, atol=1e-4) and torch.allclose(s_out, s_s, atol=1e-3)
    # the normalised pattern is the content's
    zc = (c - c.mean((2, 3), keepdim=True)) / c.std((2, 3), unbiased=False, keepdim=True)
    zo = (out - out.mean((2, 3), keepdim=True)) / out.std((2, 3), unbiased=False, keepdim=True)
    assert torch.allclose(zc, zo, atol=1e-3)


def test_alpha_and_interpolation():
    c, s1, s2 = feats(), feats(), feats()
    assert torch.allclose(stylised_features(c, [s1], [1.0], alpha=0.0), c)
    assert torch.allclose(
        stylised_features(c, [s1, s2], [3, 1]), 0.75 * adain(c, s1) + 0.25 * adain(c, s2), atol=1e-5
    )
    half = stylised_features(c, [s1], [1.0], alpha=0.5)
    assert torch.allclose(half, 0.5 * adain(c, s1) + 0.5 * c, atol=1e-5)
    with pytest.raises(StylesimError):
        stylised_features(c, [s1], [1.0], alpha=1.5)


def test_mask_gives_each_region_its_own_style():
    c, s1, s2 = feats(8, 8), feats(), feats()
    mask = torch.zeros((1, 1, 8, 8))
    mask[..., :, :4] = 1
    out = stylised_features(c, [s1, s2], [1, 1], mask=mask)
    left, right = out[..., :, :4], out[..., :, 4:]
    assert torch.allclose(channel_mean_std(left)[0], channel_mean_std(s1)[0], atol=1e-4)
    assert torch.allclose(channel_mean_std(right)[0], channel_mean_std(s2)[0], atol=1e-4)
    assert torch.allclose(masked_adain(c, s1, mask)[..., 4:], torch.zeros_like(right))


def test_decoder_architecture():
    decoder = AdaINDecoder()
    assert 3.4e6 < sum(p.numel() for p in decoder.parameters()) < 3.6e6
    assert decoder(torch.zeros((1, 512, 4, 5))).shape == (1, 3, 32, 40)


@pytest.mark.parametrize(
    "content_name, style_name",
    [("chelsea", "gravel"), ("coffee", "oil:rocket"), ("rocket", "watercolour:chelsea")],
)
def test_the_shipped_decoder_verifies_and_restyles_real_photos(monkeypatch, content_name, style_name):
    """The decoder that comes with stylesim (issue 14) loads from the package with its checksum
    and passes the project's transfer check at 256 px on photos and looks it never trained on:
    D(result, style) <= 0.6 D(content, style), structure >= 0.8 (an untrained decoder fails both)."""
    import numpy as np
    from PIL import Image
    from skimage import data

    from stylesim.encoding import VGG19Encoder
    from stylesim.encoding.layers import GATYS_STYLE_LAYERS, layer_index
    from stylesim.evaluation.sets.grid import LOOKS
    from stylesim.transfer.adain import DECODER_ENV, DEFAULT_DECODER, adain_transfer
    from stylesim.transfer.quality import structure_correlation, style_distance
    from tests.conftest import photo

    monkeypatch.delenv(DECODER_ENV, raising=False)
    weights = resolve_weights()
    decoder, file = load_decoder(None, weights.sha256)
    assert file.path == DEFAULT_DECODER and DEFAULT_DECODER.stat().st_size <= 8 * 2**20  # fp16, <= 8 MB
    encoder = VGG19Encoder(weights, tuple(sorted({*GATYS_STYLE_LAYERS, "relu4_1"}, key=layer_index)))
    content = Image.fromarray(photo(content_name, 256))
    if style_name == "gravel":
        grey = np.stack([data.gravel()] * 3, -1)
        style = Image.fromarray(grey).resize((256, 256), Image.Resampling.LANCZOS)
    else:
        look, picture = style_name.split(":")
        style = Image.fromarray(LOOKS[look](photo(picture, 256)))
    result = adain_transfer(encoder, decoder, content, [style], size=256)
    # margins (2026-12-07, fp32 and bf16 alike): ratios 0.41 / 0.17 / 0.45, structure 0.86 / 0.95 / 0.85
    assert style_distance(encoder, result, style) <= 0.6 * style_distance(encoder, content, style, 256)
    assert structure_correlation(result, content) >= 0.8


def test_a_missing_packaged_decoder_says_the_install_is_incomplete(tmp_path, monkeypatch):
    from stylesim.transfer import adain as adain_module

    monkeypatch.delenv(adain_module.DECODER_ENV, raising=False)
    monkeypatch.setattr(adain_module, "DEFAULT_DECODER", tmp_path / "weights" / "adain_decoder.pt")
    with pytest.raises(DecoderMissingError, match="this install is incomplete; reinstall stylesim"):
        load_decoder(None, "x")


def test_no_decoder_is_a_clear_error_and_writes_nothing(tmp_path):
    with pytest.raises(DecoderMissingError, match=r"no AdaIN decoder at .*none\.pt \(given by --decoder\)"):
        load_decoder(tmp_path / "none.pt", "x")
    from PIL import Image

    from tests.conftest import photo

    Image.fromarray(photo("chelsea", 64)).save(tmp_path / "c.png")
    Image.fromarray(photo("coffee", 64)).save(tmp_path / "s.png")
    result = CliRunner().invoke(
        app,
        [
            "restyle",
            str(tmp_path / "c.png"),
            "--style",
            str(tmp_path / "s.png"),
            "--method",
            "adain",
            "--decoder",
            str(tmp_path / "none.pt"),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 1
    assert "no AdaIN decoder at" in result.output and "--method gatys" in result.output
    assert not (tmp_path / "out").exists()


def test_decoder_file_is_verified(tmp_path):
    sha = resolve_weights().sha256
    path = tmp_path / "adain_decoder.pt"
    save_decoder(AdaINDecoder(), path, sha, "reflect", {"note": "untrained, for the loader test"})
    decoder, info = load_decoder(path, sha)
    assert info.padding == "reflect" and isinstance(decoder, AdaINDecoder)
    with pytest.raises(StylesimError, match="trained against encoder weights"):
        load_decoder(path, "0" * 64)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StylesimError, match="does not match"):
        load_decoder(path, sha)
    wrong = AdaINDecoder()
    wrong.net[1] = torch.nn.Conv2d(512, 128, 3)
    save_decoder(wrong, path, sha, "reflect")
    with pytest.raises(StylesimError, match="shapes differ"):
        load_decoder(path, sha)
    path.with_suffix(".json").unlink()
    with pytest.raises(StylesimError, match="unverified"):
        load_decoder(path, sha)


def test_adain_transfer_plumbing_with_an_untrained_decoder():
    """Shapes, alpha, masks and colour preservation run end to end (an untrained decoder, so
    nothing here is about how the result looks)."""
    import numpy as np
    from PIL import Image

    from stylesim.encoding import VGG19Encoder
    from stylesim.transfer.adain import adain_transfer
    from tests.conftest import photo

    torch.manual_seed(0)
    encoder = VGG19Encoder(resolve_weights(), ("relu4_1",))
    decoder = AdaINDecoder().eval()
    content = Image.fromarray(photo("chelsea", 100))  # 100 x 66
    styles = [Image.fromarray(photo("coffee", 64)), Image.fromarray(photo("astronaut", 64))]
    out = adain_transfer(encoder, decoder, content, styles[:1], size=64)
    assert out.size == (64, 40)  # long side 64, aspect kept, sides multiples of 8
    mask = Image.new("L", content.size, 0)
    mask.paste(255, (0, 0, 50, 66))
    both = adain_transfer(encoder, decoder, content, styles, size=64, mask=mask)
    blended = adain_transfer(encoder, decoder, content, styles, [0.5, 0.5], size=64)
    assert both.size == blended.size == out.size and not np.array_equal(np.asarray(both), np.asarray(blended))
    none = adain_transfer(encoder, decoder, content, styles[:1], size=64, alpha=0.0)
    other_style = adain_transfer(encoder, decoder, content, styles[1:], size=64, alpha=0.0)
    assert np.array_equal(np.asarray(none), np.asarray(other_style))  # alpha 0: the style plays no part
    for method in ("luminance", "stats"):  # the invariants themselves: test_colour.py, test_gatys.py
        assert (
            adain_transfer(encoder, decoder, content, styles[:1], size=64, preserve_colour=method).size
            == out.size
        )
    with pytest.raises(StylesimError, match="exactly two styles"):
        adain_transfer(encoder, decoder, content, styles[:1], size=64, mask=mask)
    strip = Image.fromarray(photo("chelsea", 200)).crop((0, 0, 200, 10))  # 64 x 3 at size 64
    assert adain_transfer(encoder, decoder, strip, styles[:1], size=64).size == (64, 16)


def test_method_auto_uses_adain_only_when_a_decoder_is_installed(tmp_path, monkeypatch):
    """restyle's default --method auto: AdaIN with the decoder it finds, Gatys without one; a
    --decoder that is not there is an error, not a fall-back to minutes of Gatys."""
    from PIL import Image

    from stylesim.transfer.adain import DECODER_ENV
    from tests.conftest import photo

    Image.fromarray(photo("chelsea", 64)).save(tmp_path / "c.png")
    Image.fromarray(photo("coffee", 64)).save(tmp_path / "s.png")
    decoder = tmp_path / "adain_decoder.pt"
    save_decoder(AdaINDecoder(), decoder, resolve_weights().sha256, "reflect", {"note": "untrained"})
    common = ["restyle", str(tmp_path / "c.png"), "--style", str(tmp_path / "s.png"), "--size", "64"]
    for method, installed in {"adain": decoder, "gatys": tmp_path / "none.pt"}.items():
        monkeypatch.setenv(DECODER_ENV, str(installed))
        result = CliRunner().invoke(app, [*common, "--steps", "2", "-o", str(tmp_path / method)])
        assert result.exit_code == 0, result.output
        assert f"method: {method}" in result.output
        assert method == "adain" or f"no AdaIN decoder at {installed}" in result.output  # why not AdaIN
        written = [line for line in result.stdout.splitlines() if line.endswith(".png")]
        assert len(written) == 1 and written[0].endswith(f"__{method}.png"), written
    typo = ["--decoder", str(tmp_path / "typo.pt"), "-o", str(tmp_path / "t")]
    given = CliRunner().invoke(app, [*common, *typo])
    assert given.exit_code == 1 and "no AdaIN decoder at" in given.output


def test_restyle_options_reach_the_result_and_its_sheet(tmp_path):
    """The command line's AdaIN options (--alpha, --mask, colour, --style-scale) and Gatys
    options (--pyramid, --optimiser, --init, layers, --seed) arrive where they act: the result's
    size and the contact sheet's note; a value out of range is a usage error."""
    from PIL import Image

    from tests.conftest import photo

    for name in ("chelsea", "coffee", "astronaut"):
        Image.fromarray(photo(name, 64)).save(tmp_path / f"{name}.png")
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))
    mask.save(tmp_path / "mask.png")
    decoder = tmp_path / "adain_decoder.pt"
    save_decoder(AdaINDecoder(), decoder, resolve_weights().sha256, "reflect", {"note": "untrained"})
    two = ["-s", str(tmp_path / "coffee.png"), "-s", str(tmp_path / "astronaut.png")]
    adain = ["-m", "adain", "--decoder", str(decoder), "--alpha", "0.5", "--mask", str(tmp_path / "mask.png")]
    colour = ["--preserve-color", "--preserve-method", "stats", "--style-scale", "0.5", "--size", "64"]
    result = CliRunner().invoke(
        app, ["restyle", str(tmp_path / "chelsea.png"), *two, *adain, *colour, "-o", str(tmp_path / "a")]
    )
    assert result.exit_code == 0, result.output
    (written,) = [line for line in result.stdout.splitlines() if line.endswith(".png")]
    assert max(Image.open(written).size) == 64
    sheet = (tmp_path / "a" / "index.html").read_text()
    for said in ("alpha 0.5", "mask.png", "colour preserved (stats)", "at 0.5x"):
        assert said in sheet, said
    gatys = ["-m", "gatys", "--pyramid", "32,48", "--optimiser", "adam", "--init", "noise", "--steps", "2"]
    layers = [
        "--style-layers",
        "relu1_1,relu2_1",
        "--content-layer",
        "relu3_1",
        "--seed",
        "3",
        "--size",
        "48",
    ]
    result = CliRunner().invoke(
        app, ["restyle", str(tmp_path / "chelsea.png"), *two[:2], *gatys, *layers, "-o", str(tmp_path / "g")]
    )
    assert result.exit_code == 0, result.output
    (written,) = [line for line in result.stdout.splitlines() if line.endswith(".png")]
    assert max(Image.open(written).size) == 48
    sheet = (tmp_path / "g" / "index.html").read_text()
    for said in (
        "adam, 2 steps per level, sizes 32, 48",
        "content relu3_1",
        "style relu1_1,relu2_1",
        "noise",
    ):
        assert said in sheet, said
    assert "seed 3" in sheet
    bad = CliRunner().invoke(app, ["restyle", str(tmp_path / "chelsea.png"), *two[:2], "--alpha", "1.5"])
    assert bad.exit_code == 2 and "--alpha" in bad.output
