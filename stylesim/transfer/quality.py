"""Judging a style transfer with the project's own encoder (no reference result needed):

style distance      D(x, s) = mean_l ||G_l(x) - G_l(s)||_F / ||G_l(s)||_F
                    over Gatys' style layers relu1_1..relu5_1, both images at the same
                    long side (the result's, as the transfer saw them; Gram statistics
                    depend on scale); a good result has D(result, style) well below
                    D(content, style)
structure           Pearson correlation of blurred, small greyscale versions of the result
                    and of the content (32 px long side after a Gaussian blur): is the
                    coarse luminance layout still the content's?
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageFilter

from stylesim.descriptors.ops import gram_matrix
from stylesim.encoding import VGG19Encoder
from stylesim.encoding.layers import GATYS_STYLE_LAYERS
from stylesim.encoding.preprocess import normalise_rgb
from stylesim.transfer.image import shape_for, to_tensor

STRUCTURE_SIZE = 32


@torch.no_grad()
def style_distance(
    encoder: VGG19Encoder, image: Image.Image, style: Image.Image, size: int | None = None
) -> float:
    """D(image, style) as defined above, both at long side ``size`` (default: ``image``'s);
    ``encoder`` must output GATYS_STYLE_LAYERS."""
    size = size or max(image.size)
    grams = []
    for picture in (image, style):
        x = to_tensor(picture, shape_for(*picture.size, size), encoder.device)
        features = encoder(normalise_rgb(x, encoder.preprocessing))
        grams.append({layer: gram_matrix(features[layer])[0] for layer in GATYS_STYLE_LAYERS})
    ratios = [
        torch.linalg.norm(grams[0][layer] - grams[1][layer])
        / torch.linalg.norm(grams[1][layer]).clamp_min(1e-12)
        for layer in GATYS_STYLE_LAYERS
    ]
    return float(torch.stack(ratios).mean())


def _small_grey(image: Image.Image, shape: tuple[int, int]) -> np.ndarray:
    grey = image.convert("L")
    grey = grey.filter(ImageFilter.GaussianBlur(radius=max(grey.size) / 64))
    return np.asarray(grey.resize((shape[1], shape[0]), Image.Resampling.BOX), dtype=np.float64)


def structure_correlation(image: Image.Image, content: Image.Image) -> float:
    """Correlation of the blurred small greyscale versions of ``image`` and ``content``."""
    shape = shape_for(*content.size, STRUCTURE_SIZE)
    a, b = _small_grey(image, shape).ravel(), _small_grey(content, shape).ravel()
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
