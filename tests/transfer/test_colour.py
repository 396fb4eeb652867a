"""Colour preservation invariants."""

from __future__ import annotations

import torch
from PIL import Image

from stylesim.transfer.colour import keep_luminance, match_colour_statistics, rgb_to_yiq, yiq_to_rgb
from stylesim.transfer.image import to_tensor
from tests.conftest import photo


def picture(name, size=64):
    img = Image.fromarray(photo(name, size))
    return to_tensor(img, (img.height, img.width))


def test_yiq_round_trip():
    x = picture("coffee")
    assert torch.allclose(yiq_to_rgb(rgb_to_yiq(x)), x, atol=1e-5)


def test_keep_luminance_takes_brightness_from_the_result_and_colour_from_the_content():
    content = picture("coffee")
    result = picture("chelsea")[..., : content.shape[2], : content.shape[3]]
    content = content[..., : result.shape[2], : result.shape[3]]
    mixed = keep_luminance(result, content)
    inside = (
        (yiq_to_rgb(torch.cat([rgb_to_yiq(result)[:, :1], rgb_to_yiq(content)[:, 1:]], 1)) - 0.5).abs() < 0.5
    ).all(1)  # not clamped
    y, iq = rgb_to_yiq(mixed), rgb_to_yiq(content)
    assert inside.float().mean() > 0.8
    assert torch.allclose(y[:, 0][inside], rgb_to_yiq(result)[:, 0][inside], atol=1e-4)
    assert torch.allclose(
        y[:, 1:].permute(0, 2, 3, 1)[inside], iq[:, 1:].permute(0, 2, 3, 1)[inside], atol=1e-4
    )
    grey = content.mean(1, keepdim=True).repeat(1, 3, 1, 1)
    assert torch.allclose(keep_luminance(grey, grey), grey, atol=1e-4)  # nothing to change


def test_colour_statistics_matching_gives_the_content_mean_and_covariance():
    style, content = picture("astronaut"), picture("coffee")
    matched = match_colour_statistics(style, content)

    def stats(x):
        p = x.reshape(3, -1).double()
        return p.mean(1), torch.cov(p, correction=0)

    (m1, c1), (m2, c2) = stats(matched), stats(content)
    assert torch.allclose(m1, m2, atol=0.02) and torch.allclose(c1, c2, atol=0.01)
    assert not torch.allclose(stats(style)[0], m2, atol=0.02)  # it did change something
