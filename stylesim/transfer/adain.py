"""AdaIN style transfer (Huang & Belongie 2017, "Arbitrary Style Transfer in Real-time with
Adaptive Instance Normalization"): encoder f = VGG19 to relu4_1, the AdaIN operation, and a
decoder g trained to invert f:

    AdaIN(x, y) = sigma(y) (x - mu(x)) / sigma(x) + mu(y)                  eq. 8
    T(c, s, alpha) = g( alpha AdaIN(f(c), f(s)) + (1 - alpha) f(c) )      eq. 14
    interpolation:  g( sum_k w_k AdaIN(f(c), f(s_k)) ),  sum_k w_k = 1    sec. 7.2
    spatial control: AdaIN on the masked regions separately, each with its own style

mu and sigma are per-channel statistics over space (``descriptors.adain.channel_mean_std``).

The decoder mirrors the encoder (ReflectionPad + 3x3 conv + ReLU, nearest x2 upsampling, no
normalisation layers; 512 -> 256 | up | 256 x 3, 256 -> 128 | up | 128, 128 -> 64 | up | 64,
64 -> 3), ~3.5 M parameters, and outputs RGB in [0, 1]. Its weights are trained by
``stylesim train-decoder`` (``transfer.training``, on the CPU or a GPU); ``load_decoder`` refuses
anything but a verified file.

Decoder file: ``adain_decoder.pt`` (``torch.save`` of {"format", "version", "encoder":
{"weights_sha256", "layer", "padding"}, "state_dict"}) with ``adain_decoder.json`` beside it
({"sha256": of the .pt file, "trained": notes}). Loading checks the hash, the format, every
tensor's name and shape, and that the encoder weights are the ones it was trained against.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from stylesim.descriptors.ops import channel_mean_std
from stylesim.encoding import VGG19Encoder
from stylesim.encoding.device import autocast, choose_precision, frozen_in_precision
from stylesim.encoding.preprocess import normalise_rgb
from stylesim.encoding.relu import SignBitReLU
from stylesim.errors import StylesimError
from stylesim.transfer.colour import PRESERVE_METHODS, keep_luminance, match_colour_statistics
from stylesim.transfer.convolutions import pad_in_its_dtype, reflection_padded_conv, upsampled_conv
from stylesim.transfer.image import shape_for, to_image, to_tensor
from stylesim.transfer.losses import blend

DECODER_FORMAT = "stylesim-adain-decoder"
DECODER_VERSION = 1
ADAIN_LAYER = "relu4_1"
DEFAULT_DECODER = Path(__file__).resolve().parent / "weights" / "adain_decoder.pt"
DECODER_ENV = "STYLESIM_ADAIN_DECODER"


class DecoderMissingError(StylesimError):
    """No AdaIN decoder is installed; the message says where it was looked for and what to do."""


# ----------------------------------------------------------------------------- the operation
def adain(content: torch.Tensor, style: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """AdaIN(x, y) (eq. 8) for features (N, C, H, W); ``style`` may have another size."""
    c_mean, c_std = channel_mean_std(content, eps)
    s_mean, s_std = channel_mean_std(style, eps)
    scale = s_std / c_std  # (x - mu_c) / sigma_c * sigma_s + mu_s as one multiply-add per value
    return torch.addcmul((s_mean - c_mean * scale)[..., None, None], content, scale[..., None, None])


def masked_adain(
    content: torch.Tensor, style: torch.Tensor, mask: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """AdaIN inside ``mask`` only: the content's statistics are taken over the masked positions
    and the result is defined there (zero elsewhere). ``mask`` is (N, 1, H, W) in {0, 1}."""
    weight = mask / mask.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
    mean = (content * weight).sum(dim=(2, 3), keepdim=True)
    std = (((content - mean) ** 2 * weight).sum(dim=(2, 3), keepdim=True) + eps).sqrt()
    s_mean, s_std = channel_mean_std(style, eps)
    return mask * ((content - mean) / std * s_std[..., None, None] + s_mean[..., None, None])


def stylised_features(
    content: torch.Tensor,
    styles: Sequence[torch.Tensor],
    weights: Sequence[float],
    alpha: float = 1.0,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """The decoder's input: alpha * target + (1 - alpha) * f(c) (eq. 14). Without a mask the
    target is the weighted interpolation of AdaIN(f(c), f(s_k)); with a mask (two styles) it is
    AdaIN with style 1 inside the mask and style 2 outside."""
    if not 0.0 <= alpha <= 1.0:
        raise StylesimError(f"--alpha must be between 0 and 1, got {alpha}")
    if mask is None:
        target = blend([adain(content, s) for s in styles], weights)
    else:
        if len(styles) != 2:
            raise StylesimError(f"a mask takes exactly two styles (inside, outside), got {len(styles)}")
        m = F.interpolate(mask, size=content.shape[-2:], mode="nearest")
        target = masked_adain(content, styles[0], m) + masked_adain(content, styles[1], 1.0 - m)
    return target if alpha == 1.0 else alpha * target + (1.0 - alpha) * content


# ----------------------------------------------------------------------------- the decoder
class ReflectionPad(nn.Module):
    """Reflection padding by one pixel that keeps its input's dtype (``pad_in_its_dtype``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pad_in_its_dtype(x, (1, 1, 1, 1), "reflect")


def _block(c_in: int, c_out: int, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [ReflectionPad(), nn.Conv2d(c_in, c_out, 3)]
    return layers + [SignBitReLU(inplace=True)] if relu else layers


def _upsample() -> nn.Module:
    return nn.Upsample(scale_factor=2, mode="nearest")


class AdaINDecoder(nn.Module):
    """relu4_1 features (N, 512, H/8, W/8) -> RGB (N, 3, H, W) in [0, 1] (the architecture of
    Huang & Belongie's decoder; sigmoid-free, clamped at inference)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            *_block(512, 256),
            _upsample(),
            *_block(256, 256),
            *_block(256, 256),
            *_block(256, 256),
            *_block(256, 128),
            _upsample(),
            *_block(128, 128),
            *_block(128, 64),
            _upsample(),
            *_block(64, 64),
            *_block(64, 3, relu=False),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """The layers in order while training (autograd on); at inference each convolution after
        an upsampling runs at the resolution before it and no padded copies are made
        (``transfer.convolutions``: the same sums, rounded differently)."""
        if torch.is_grad_enabled():
            image: torch.Tensor = self.net(features)
            return image
        x, upsampled = features, False
        for layer in self.net:
            if isinstance(layer, nn.Upsample):
                upsampled = True
            elif isinstance(layer, nn.Conv2d):
                x = upsampled_conv(x, layer) if upsampled else reflection_padded_conv(x, layer)
                upsampled = False
            elif not isinstance(layer, ReflectionPad):
                x = layer(x)
        return x


@dataclass
class DecoderFile:
    path: Path
    sha256: str
    encoder_sha256: str
    padding: str


def decoder_path(explicit: str | Path | None = None) -> Path:
    """``--decoder``, else ``$STYLESIM_ADAIN_DECODER``, else the packaged location."""
    return Path(explicit or os.environ.get(DECODER_ENV) or DEFAULT_DECODER).expanduser()


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def save_decoder(
    decoder: AdaINDecoder,
    path: Path,
    encoder_sha256: str,
    padding: str,
    notes: dict[str, Any] | None = None,
    dtype: torch.dtype = torch.float16,
) -> DecoderFile:
    """Write a decoder (its tensors in ``dtype``: float16 halves the file, 7 MB) and its sidecar
    (hash and training notes) in the verified format; both written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", dtype) for k, v in decoder.state_dict().items()}
    blob = {
        "format": DECODER_FORMAT,
        "version": DECODER_VERSION,
        "encoder": {"weights_sha256": encoder_sha256, "layer": ADAIN_LAYER, "padding": padding},
        "state_dict": state,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(blob, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    sidecar_tmp = _sidecar(path).with_name(_sidecar(path).name + ".tmp")
    sidecar_tmp.write_text(json.dumps({"sha256": digest, "trained": notes or {}}, indent=2) + "\n")
    os.replace(tmp, path)
    os.replace(sidecar_tmp, _sidecar(path))
    return DecoderFile(path, digest, encoder_sha256, padding)


def missing_decoder_message(explicit: str | Path | None) -> str:
    """Why no decoder was found, in one line: a path the user gave (``--decoder`` or
    ``$STYLESIM_ADAIN_DECODER``) that is not there, or, for the packaged decoder that comes with
    stylesim, an incomplete install."""
    file = decoder_path(explicit)
    if explicit:
        source, undo = "--decoder", "leave --decoder out"
    elif os.environ.get(DECODER_ENV):
        source, undo = f"${DECODER_ENV}", f"unset ${DECODER_ENV}"
    else:
        return (
            f"no AdaIN decoder is installed ({file} does not exist): stylesim ships one there, so this "
            "install is incomplete; reinstall stylesim, or pass --decoder FILE.pt, or use --method gatys"
        )
    return (
        f"no AdaIN decoder at {file} (given by {source}): the file does not exist; check the path, "
        f"or {undo} to use the decoder stylesim ships, or use --method gatys"
    )


def load_decoder(
    path: str | Path | None, encoder_sha256: str, device: torch.device | str = "cpu"
) -> tuple[AdaINDecoder, DecoderFile]:
    """The verified decoder at ``decoder_path(path)``; DecoderMissingError if there is none,
    StylesimError naming the file and the problem if it does not verify."""
    file = decoder_path(path)
    if not file.is_file():
        raise DecoderMissingError(missing_decoder_message(path))
    sidecar = _sidecar(file)
    if not sidecar.is_file():
        raise StylesimError(
            f"{file}: no {sidecar.name} beside it with the file's sha256; refusing an unverified decoder"
        )
    try:
        expected = json.loads(sidecar.read_text())["sha256"]
    except (ValueError, KeyError) as err:
        raise StylesimError(f"{sidecar}: unreadable ({err})") from None
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    if digest != expected:
        raise StylesimError(
            f"{file}: sha256 {digest[:12]} does not match {sidecar.name} ({str(expected)[:12]}); "
            "the file is damaged or was replaced"
        )
    try:
        blob = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means a bad file
        raise StylesimError(f"{file}: not a decoder file ({err})") from None
    if (
        not isinstance(blob, dict)
        or blob.get("format") != DECODER_FORMAT
        or blob.get("version") != DECODER_VERSION
    ):
        raise StylesimError(f"{file}: not a {DECODER_FORMAT} version {DECODER_VERSION} file")
    meta = blob.get("encoder", {})
    if meta.get("weights_sha256") != encoder_sha256:
        raise StylesimError(
            f"{file}: trained against encoder weights {str(meta.get('weights_sha256'))[:12]}, "
            f"but the encoder in use has {encoder_sha256[:12]}"
        )
    decoder = AdaINDecoder()
    wanted = {k: tuple(v.shape) for k, v in decoder.state_dict().items()}
    state = blob.get("state_dict", {})
    got = {k: tuple(v.shape) for k, v in state.items()}
    if got != wanted:
        diff = sorted(set(wanted.items()) ^ set(got.items()))[:3]
        raise StylesimError(
            f"{file}: tensor names or shapes differ from the decoder architecture (e.g. {diff})"
        )
    decoder.load_state_dict(state)
    # channels-last: oneDNN's convolutions are faster in NHWC, as for the encoder
    decoder.requires_grad_(False).eval().to(device).to(memory_format=torch.channels_last)
    return decoder, DecoderFile(file, digest, encoder_sha256, str(meta.get("padding", "zeros")))


# ----------------------------------------------------------------------------- the transfer
@torch.no_grad()
def adain_transfer(
    encoder: VGG19Encoder,
    decoder: AdaINDecoder,
    content: Image.Image,
    styles: Sequence[Image.Image],
    style_weights: Sequence[float] | None = None,
    size: int = 512,
    alpha: float = 1.0,
    preserve_colour: str | None = None,
    mask: Image.Image | None = None,
    style_scale: float = 1.0,
    precision: str = "auto",
) -> Image.Image:
    """Render ``content`` (long side ``size``, aspect kept) in ``styles``; see the module doc.
    The encoder and the decoder run in ``precision`` (``auto``: bf16 where the device has bf16
    units); AdaIN's statistics and the output are computed in float32."""
    if preserve_colour not in (None, *PRESERVE_METHODS):
        raise StylesimError(
            f"unknown colour preservation {preserve_colour!r}; use {' or '.join(PRESERVE_METHODS)}"
        )
    if not styles:
        raise StylesimError("give at least one style image")
    weights = list(style_weights) if style_weights is not None else [1.0] * len(styles)
    device = encoder.device
    shape = shape_for(*content.size, size)
    # sides a multiple of 8 (the decoder upsamples x8), at least 16: the decoder's reflection
    # padding needs 2 x 2 features
    shape = (max(16, shape[0] // 8 * 8), max(16, shape[1] // 8 * 8))
    c = to_tensor(content, shape, device)
    style_long = max(16, round(max(shape) * style_scale))
    s = [to_tensor(img, shape_for(*img.size, style_long), device) for img in styles]
    if preserve_colour == "stats":
        s = [match_colour_statistics(x, c) for x in s]

    chosen = choose_precision(device, precision)
    network = frozen_in_precision(encoder, chosen)

    def f(x: torch.Tensor) -> torch.Tensor:
        with autocast(device, chosen):
            model_input = normalise_rgb(x, encoder.preprocessing)
            return network.forward(model_input, until=ADAIN_LAYER)[ADAIN_LAYER].float()

    m = None
    if mask is not None:
        m = to_tensor(mask.convert("L").convert("RGB"), shape, device)[:, :1].round()
    t = stylised_features(f(c), [f(x) for x in s], weights, alpha, m)
    with autocast(device, chosen):
        out = frozen_in_precision(decoder, chosen)(t.contiguous(memory_format=torch.channels_last))
        out = out.float().clamp(0, 1)
    if out.shape[-2:] != c.shape[-2:]:
        out = F.interpolate(out, size=c.shape[-2:], mode="bilinear", align_corners=False)
    if preserve_colour == "luminance":
        out = keep_luminance(out, c)
    return to_image(out)
