"""``SignBitReLU``: max(x, 0) through the int16 view of 16-bit floats equals ``torch.relu`` (a
negative zero aside; in place or not, channels-last too) and leaves autograd and other dtypes to
``nn.ReLU``; ``NonNegativeMaxPool2d`` equals ``max_pool2d`` on ReLU outputs; the encoder and
decoder built with both give the same outputs as with PyTorch's own modules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stylesim.encoding import VGG19Encoder, resolve_weights
from stylesim.encoding.relu import NonNegativeMaxPool2d, SignBitReLU
from stylesim.transfer.adain import AdaINDecoder


def awkward_values(dtype: torch.dtype) -> torch.Tensor:
    """Random activations with zeros, infinities and subnormal-sized values, channels-last."""
    values = torch.randn((2, 8, 9, 7), generator=torch.Generator().manual_seed(0)) * 5
    values.view(-1)[:6] = torch.tensor([0.0, float("inf"), float("-inf"), 1e-40, -1e-40, -3.0])
    return values.to(dtype).contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("inplace", [True, False])
def test_equals_torch_relu_and_leaves_no_sign_bit(dtype, inplace):
    x = awkward_values(dtype)
    expected = torch.relu(x)
    given = x.clone()
    out = SignBitReLU(inplace=inplace)(given)
    assert out.dtype == dtype and out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out, expected)  # -0.0 == +0.0 here: a negative zero may come out as +0.0
    nonzero = expected != 0
    assert torch.equal(out[nonzero].float(), expected[nonzero].float()) and not torch.signbit(out).any()
    assert (out.data_ptr() == given.data_ptr()) == inplace
    if not inplace:
        assert torch.equal(given, x)  # the input is left as it was


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
def test_pooling_non_negative_values_equals_max_pool2d(dtype, layout):
    x = torch.relu(awkward_values(torch.float32)).to(dtype).contiguous(memory_format=layout)  # 9 x 7
    pooled = NonNegativeMaxPool2d()(x)
    expected = torch.nn.functional.max_pool2d(x, 2, 2)
    assert pooled.shape == expected.shape == (2, 8, 4, 3) and pooled.dtype == dtype
    assert torch.equal(pooled.float(), expected.float())


def test_pooling_with_autograd_goes_through_max_pool2d():
    x = torch.relu(awkward_values(torch.float32)).to(torch.bfloat16).requires_grad_()
    NonNegativeMaxPool2d()(x).float().sum().backward()
    assert x.grad is not None and int(x.grad.sum()) == 2 * 8 * 4 * 3  # one winner per window


def test_a_tensor_that_needs_a_gradient_goes_through_nn_relu():
    x = awkward_values(torch.bfloat16).float().requires_grad_()
    y = x.to(torch.bfloat16)
    SignBitReLU(inplace=False)(y).float().sum().backward()
    assert x.grad is not None and torch.equal(x.grad, (x > 0).float())


@torch.inference_mode()
def test_encoder_and_decoder_outputs_are_the_same_as_with_torch_relu_and_pooling():
    encoder = VGG19Encoder(resolve_weights(), ("relu1_1", "relu2_1", "relu4_1")).to(torch.bfloat16)
    decoder = AdaINDecoder().eval().to(torch.bfloat16)
    x = torch.rand((1, 3, 64, 48), generator=torch.Generator().manual_seed(1)).to(torch.bfloat16)
    ours = encoder(x)
    decoded = decoder(ours["relu4_1"].contiguous(memory_format=torch.channels_last))
    for network in (encoder, decoder):
        for name, module in list(network.named_modules()):
            parent = network.get_submodule(name.rpartition(".")[0]) if "." in name else network
            if isinstance(module, SignBitReLU):
                setattr(parent, name.rpartition(".")[2], nn.ReLU(inplace=module.inplace))
            elif isinstance(module, NonNegativeMaxPool2d):
                setattr(parent, name.rpartition(".")[2], nn.MaxPool2d(2, 2))
    plain = encoder(x)
    assert all(torch.equal(ours[k], plain[k]) for k in plain)
    assert torch.equal(decoded, decoder(plain["relu4_1"].contiguous(memory_format=torch.channels_last)))
