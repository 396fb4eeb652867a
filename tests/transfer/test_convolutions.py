"""The decoder's inference convolutions against the layers they replace: reflection padding then
a 3 x 3 convolution, and nearest x2 upsampling, reflection padding, then the convolution."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stylesim.encoding.device import frozen_in_precision
from stylesim.transfer.adain import AdaINDecoder
from stylesim.transfer.convolutions import reflection_padded_conv, upsampled_conv

SHAPES = [(1, 2, 2), (2, 3, 5), (1, 7, 4), (1, 16, 16)]  # (batch, height, width), odd and tiny ones


def random(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def conv(c_in: int, c_out: int, seed: int = 1) -> nn.Conv2d:
    torch.manual_seed(seed)
    return nn.Conv2d(c_in, c_out, 3).requires_grad_(False)


def layers_reference(x: torch.Tensor, layer: nn.Conv2d, upsample: bool) -> torch.Tensor:
    if upsample:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
    return layer(F.pad(x, (1, 1, 1, 1), mode="reflect"))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_reflection_padded_conv_equals_padding_then_convolving(shape, layout):
    n, h, w = shape
    x, layer = random(n, 6, h, w).contiguous(memory_format=layout), conv(6, 5)
    torch.testing.assert_close(reflection_padded_conv(x, layer), layers_reference(x, layer, False))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_upsampled_conv_equals_upsampling_padding_then_convolving(shape, layout):
    n, h, w = shape
    x, layer = random(n, 6, h, w).contiguous(memory_format=layout), conv(6, 5)
    out = upsampled_conv(x, layer)
    assert out.shape == (n, 5, 2 * h, 2 * w) and out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, layers_reference(x, layer, True))


def test_phase_kernels_follow_a_change_of_the_weights():
    x, layer = random(1, 4, 5, 6), conv(4, 3)
    upsampled_conv(x, layer)
    layer.weight.mul_(-2.0)  # in place: the cached kernels must not be used again
    torch.testing.assert_close(upsampled_conv(x, layer), layers_reference(x, layer, True))


def test_phase_kernels_follow_a_weight_replaced_in_place_of_the_old_one():
    x, layer = random(1, 4, 5, 6), conv(4, 3)
    upsampled_conv(x, layer)
    layer.load_state_dict({"weight": -layer.weight, "bias": layer.bias}, assign=True)  # same version
    torch.testing.assert_close(upsampled_conv(x, layer), layers_reference(x, layer, True))
    layer.weight = nn.Parameter(layer.weight * 3, requires_grad=False)
    torch.testing.assert_close(upsampled_conv(x, layer), layers_reference(x, layer, True))


def test_bf16_results_stay_within_bf16_rounding_of_the_float32_ones():
    x, layer = random(1, 64, 9, 12), conv(64, 32)
    low = layer.to(torch.bfloat16)
    exact = layers_reference(x, conv(64, 32), True)
    ours = upsampled_conv(x.to(torch.bfloat16), low).float()
    plain = layers_reference(x.to(torch.bfloat16), low, True).float()
    # the summed kernel rows round differently, by no more than the layer-by-layer bf16 errs
    assert (ours - exact).abs().max() <= 1.5 * (plain - exact).abs().max()


def test_decoder_inference_path_matches_its_training_path():
    decoder = AdaINDecoder().eval()
    features = random(2, 512, 5, 3).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        inference = decoder(features)
    training = decoder(features)  # autograd on: the layers one after the other
    assert training.requires_grad and not inference.requires_grad
    torch.testing.assert_close(inference, training.detach(), rtol=1e-4, atol=1e-5)


@torch.inference_mode()
def test_weights_made_in_inference_mode_are_used_as_they_are_now():
    x, layer = random(1, 4, 5, 6), conv(4, 3).to(torch.float64).float()  # inference tensors
    upsampled_conv(x, layer)
    layer.weight.mul_(-2.0)
    torch.testing.assert_close(upsampled_conv(x, layer), layers_reference(x, layer, True))


def test_the_decoder_as_restyling_runs_it_stays_within_bf16_rounding_of_its_layers():
    """bf16 weights stored once (``frozen_in_precision``) under autocast, as ``adain_transfer``
    runs the decoder: the inference path against the layer-by-layer one in the same precision,
    both against float32."""
    torch.manual_seed(0)
    decoder = AdaINDecoder().eval().requires_grad_(False)
    features = random(1, 512, 6, 5).abs().contiguous(memory_format=torch.channels_last)
    exact = decoder(features)  # float32, layer by layer (autograd on)
    stored = frozen_in_precision(decoder, "bf16")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        layers = stored(features).float()
        with torch.no_grad():
            inference = stored(features)
    assert inference.dtype == torch.bfloat16
    assert (inference.float() - exact).abs().max() <= 1.5 * (layers - exact).abs().max()
