"""Gatys transfer with the real model on small real images: the quality check of the issue,
seed reproducibility, pyramid sizes, optimisers, colour preservation."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from stylesim.encoding import VGG19Encoder, resolve_weights
from stylesim.encoding.layers import GATYS_STYLE_LAYERS, layer_index
from stylesim.evaluation.sets import grid as sample_grid
from stylesim.transfer.colour import rgb_to_yiq
from stylesim.transfer.gatys import GatysSettings, gatys_transfer
from stylesim.transfer.image import shape_for, to_tensor
from stylesim.transfer.quality import structure_correlation, style_distance
from tests.conftest import photo


@pytest.fixture(scope="module")
def encoder() -> VGG19Encoder:
    layers = tuple(sorted(set(GATYS_STYLE_LAYERS) | {"relu4_2"}, key=layer_index))
    return VGG19Encoder(resolve_weights(), layers)


def pencil(name: str, size: int = 128) -> Image.Image:
    return Image.fromarray(sample_grid.LOOKS["pencil"](photo(name, size)))


def gravel(size: int = 128) -> Image.Image:
    from skimage import data

    return Image.fromarray(np.stack([data.gravel()] * 3, -1)).resize((size, size), Image.Resampling.LANCZOS)


@pytest.mark.parametrize("content_name, style_name", [("astronaut", "pencil-coffee"), ("chelsea", "gravel")])
def test_result_takes_the_style_and_keeps_the_layout(encoder, content_name, style_name):
    content = Image.fromarray(photo(content_name, 128))
    style = pencil("coffee") if style_name == "pencil-coffee" else gravel()
    result = gatys_transfer(encoder, content, [style], settings=GatysSettings(size=96, steps=40))
    assert result.image.size == (96, round(96 * content.height / content.width)) or result.image.size[1] == 96
    before = style_distance(encoder, content, style, 96)
    after = style_distance(encoder, result.image, style)
    assert after <= 0.6 * before, (after, before)
    assert structure_correlation(result.image, content) >= 0.8
    losses = [step["total"] for step in result.losses]
    assert losses[-1] < 0.5 * losses[0]


def test_same_seed_same_result_other_seed_other_result(encoder):
    content, style = Image.fromarray(photo("coffee", 64)), gravel(64)
    settings = GatysSettings(size=48, steps=4, init="noise", seed=7)
    a = np.asarray(gatys_transfer(encoder, content, [style], settings=settings).image)
    b = np.asarray(gatys_transfer(encoder, content, [style], settings=settings).image)
    c = np.asarray(
        gatys_transfer(
            encoder, content, [style], settings=GatysSettings(size=48, steps=4, init="noise", seed=8)
        ).image
    )
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_pyramid_levels_keep_the_aspect_ratio(encoder):
    content, style = Image.fromarray(photo("astronaut", 120)[:, :90]), gravel(64)  # portrait 90 x 120
    result = gatys_transfer(encoder, content, [style], settings=GatysSettings(pyramid=(32, 64), steps=2))
    assert result.shapes == [shape_for(90, 120, 32), shape_for(90, 120, 64)] == [(32, 24), (64, 48)]
    assert result.image.size == (48, 64)
    assert {step["level"] for step in result.losses} == {0, 1} and len(result.losses) == 4


def test_adam_decreases_the_loss_and_stays_in_range(encoder):
    content, style = Image.fromarray(photo("chelsea", 64)), gravel(64)
    result = gatys_transfer(
        encoder,
        content,
        [style],
        settings=GatysSettings(size=48, steps=15, optimiser="adam", learning_rate=0.03),
    )
    assert result.losses[-1]["total"] < result.losses[0]["total"]


def test_luminance_preservation_keeps_the_content_colours(encoder):
    content, style = Image.fromarray(photo("coffee", 64)), pencil("astronaut", 64)
    result = gatys_transfer(
        encoder, content, [style], settings=GatysSettings(size=48, steps=5, preserve_colour="luminance")
    )
    x = to_tensor(result.image, (result.image.height, result.image.width))
    c = to_tensor(content, (result.image.height, result.image.width))
    chroma_error = (rgb_to_yiq(x)[:, 1:] - rgb_to_yiq(c)[:, 1:]).abs().mean()
    assert float(chroma_error) < 0.02  # only 8-bit rounding and clamping
    plain = gatys_transfer(encoder, content, [style], settings=GatysSettings(size=48, steps=5))
    y = to_tensor(plain.image, (plain.image.height, plain.image.width))
    assert float((rgb_to_yiq(y)[:, 1:] - rgb_to_yiq(c)[:, 1:]).abs().mean()) > float(chroma_error)
