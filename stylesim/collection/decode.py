"""Safe image decoding: every failure becomes a DecodeError with a short reason, and every odd
but valid image (CMYK, 16-bit, palette, alpha, EXIF rotation) becomes 8-bit RGB."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, ImageOps, JpegImagePlugin, UnidentifiedImageError

from stylesim.collection.geometry import input_shape
from stylesim.errors import DecodeError

# Refuse images above this many pixels before decoding them (decompression bombs: a tiny file
# that expands to gigabytes). Our check reads the header and runs first; Pillow's own warning
# (at 89 MP) is silenced so that the documented limit is the one that applies.
DEFAULT_MAX_PIXELS = 100_000_000
ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass
class DecodedImage:
    pixels: np.ndarray  # (H, W, 3) uint8 at the encoder's input shape
    width: int  # of the original image (after EXIF rotation)
    height: int
    sha256: str


def _to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB; transparency composited onto white; high bit depths scaled, not clipped."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        if img.mode == "F":
            top = max(float(a.max()), 1e-12)
        img = Image.fromarray(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def open_image(
    data: bytes, path: str, max_pixels: int = DEFAULT_MAX_PIXELS, draft_to: tuple[int, int] | None = None
) -> tuple[Image.Image, tuple[int, int]]:
    """Decode ``data`` into an RGB image with EXIF orientation applied, and the image's full
    (width, height) (``draft_to`` lets JPEGs decode at a reduced scale); DecodeError on failure."""
    if not data:
        raise DecodeError(path, "empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                raise DecodeError(
                    path,
                    f"decompression bomb: {w}x{h} = {w * h / 1e6:.0f} MP "
                    f"exceeds the {max_pixels / 1e6:.0f} MP limit",
                )
            if draft_to is not None and isinstance(img, JpegImagePlugin.JpegImageFile):
                img.draft("RGB", draft_to)  # decode at a reduced scale: much faster for big JPEGs
            img.load()
            if img.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF orientation swaps the axes
                w, h = h, w
            img = ImageOps.exif_transpose(img)
            return _to_rgb(img), (w, h)
    except DecodeError:
        raise
    except UnidentifiedImageError:
        raise DecodeError(path, "not an image (unknown or unsupported format)") from None
    except Image.DecompressionBombError as err:
        raise DecodeError(path, f"decompression bomb: {err}") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as err:
        reason = str(err) or type(err).__name__
        if "truncated" in reason.lower():
            raise DecodeError(path, f"truncated image ({reason})") from None
        raise DecodeError(path, f"corrupt image ({reason})") from None


def read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise DecodeError(path, f"cannot read ({err.strerror})") from None


def decode_for_encoding(path: str, size: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Read, hash and decode ``path``, resized to its aspect bucket of ``size``."""
    return decode_bytes(read_file(path), path, size, max_pixels)


def decode_bytes(data: bytes, name: str, size: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Hash and decode an image held in memory (an upload), resized to its aspect bucket of
    ``size``; DecodeError naming ``name`` if it is not a usable image."""
    digest = hashlib.sha256(data).hexdigest()
    img, (width, height) = open_image(data, name, max_pixels, draft_to=(size, size))
    return DecodedImage(resize_to_bucket(img, size), width, height, digest)


def resize_to_bucket(img: Image.Image, size: int) -> np.ndarray:
    """(H, W, 3) uint8 pixels at the encoder input shape for this image's aspect ratio."""
    h, w = input_shape(img.width, img.height, size)
    return np.array(img.resize((w, h), Image.Resampling.BICUBIC, reducing_gap=3.0))
