"""Images for style transfer: load a file (or a video frame ``VIDEO@TIME``) safely, size it
keeping its aspect ratio, and convert between PIL images and float tensors in [0, 1]."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from stylesim.collection.decode import open_image, read_file
from stylesim.collection.video import extract_frame, resolve_picture
from stylesim.errors import DecodeError, StylesimError


def load_image(spec: str, role: str = "image") -> Image.Image:
    """RGB image of a file, or of the frame ``VIDEO@TIME``; StylesimError naming it otherwise."""
    reference = resolve_picture(spec, role)
    try:
        if reference is not None:
            return extract_frame(*reference)[0]
        return open_image(read_file(spec), spec)[0]
    except DecodeError as err:
        raise StylesimError(f"{spec}: cannot use as {role}: {err.reason}") from None


def shape_for(width: int, height: int, long_side: int) -> tuple[int, int]:
    """(height, width) with the longer side ``long_side`` and the aspect ratio kept."""
    if long_side < 16:
        raise StylesimError(f"image size must be at least 16 pixels, got {long_side}")
    scale = long_side / max(width, height)
    return max(1, round(height * scale)), max(1, round(width * scale))


def to_tensor(image: Image.Image, shape: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
    """(1, 3, H, W) float32 in [0, 1] at ``shape`` = (H, W)."""
    h, w = shape
    if image.size != (w, h):
        image = image.resize((w, h), Image.Resampling.LANCZOS)
    pixels = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)
    return pixels.permute(2, 0, 1).unsqueeze(0).to(device)


def to_image(tensor: torch.Tensor) -> Image.Image:
    """First image of a (N, 3, H, W) tensor in [0, 1] as 8-bit RGB (clamped, rounded)."""
    pixels = tensor.detach()[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(pixels)
