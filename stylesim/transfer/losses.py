"""Perceptual losses for style transfer: pure functions, and small loss classes over them that
compute their targets once (pystiche's pattern).

Notation (Gatys, Ecker & Bethge 2016, "Image Style Transfer Using Convolutional Neural
Networks"): F^l is layer l's activation of the image being optimised, reshaped to N_l
channels x M_l positions; P^l the content image's; G^l = F^l F^l^T / M_l the Gram matrix
(``descriptors.gram.gram_matrix``: Gatys' eq. 3 divided by M_l, so that image size does not
change it).

    content   L_c = 1/2 sum (F^l - P^l)^2                  eq. 1   -> here the mean, (F-P)^2
    style     E_l = 1/(4 N_l^2 M_l^2) sum (G - A)^2         eq. 4   -> with G normalised by M_l
                  = 1/4 mean_{ij} (G_ij - A_ij)^2                     this is exactly eq. 4
              L_s = sum_l w_l E_l                           eq. 5
    TV        L_tv = mean (x_{i+1,j} - x_ij)^2 + mean (x_{i,j+1} - x_ij)^2   (Mahendran &
                  Vedaldi 2015, beta = 2), on pixels in [0, 1]
    AdaIN     L_s = sum_l ||mu(F^l) - mu(S^l)||^2 + ||sigma(F^l) - sigma(S^l)||^2
                                                             Huang & Belongie 2017, eq. 13
                  (with means over channels, as their reference training code)

The content loss uses the mean instead of Gatys' half sum so that its size does not depend on
the image size; the weights absorb the constant.

Layer balance: Gatys et al. rescaled their VGG19 so that every filter's mean activation is one;
we use the original Caffe weights unchanged (inputs 0..255), whose layers differ in scale by
orders of magnitude (mean squared Gram entries: relu4_1 ~5e11, relu1_1 ~5e6). Each loss is
therefore divided by its target's energy (mean P^2 for content, mean A^2 per style layer), so
every layer counts as intended and the weights are relative: a content weight of 1 and a style
weight of 1 give the two terms the same size for a 100 % error.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from stylesim.descriptors.ops import channel_mean_std, gram_matrix


# --------------------------------------------------------------------------- pure functions
def content_loss(feature: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean (F - P)^2 (Gatys eq. 1, as a mean), in float32 whatever the activations' dtype."""
    return torch.mean((feature.float() - target.float()) ** 2)


def gram_loss(gram: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """E_l = 1/4 mean (G - A)^2 for Gram matrices normalised by the number of positions
    (Gatys eq. 4)."""
    return 0.25 * torch.mean((gram - target) ** 2)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """mean squared difference of vertically and of horizontally adjacent pixels, summed
    (beta = 2 total variation); (N, C, H, W)."""
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return torch.mean(dy**2) + torch.mean(dx**2)


def mean_std_loss(feature: torch.Tensor, target_mean: torch.Tensor, target_std: torch.Tensor) -> torch.Tensor:
    """||mu(F) - mu_t||^2 + ||sigma(F) - sigma_t||^2 as means over channels (AdaIN eq. 13, one
    layer)."""
    mean, std = channel_mean_std(feature)
    return torch.mean((mean - target_mean) ** 2) + torch.mean((std - target_std) ** 2)


def blend(tensors: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """sum_i w_i T_i with the weights normalised to sum to one (style blending)."""
    if len(tensors) != len(weights) or not tensors:
        raise ValueError(f"{len(tensors)} targets but {len(weights)} weights")
    total = float(sum(weights))
    if total <= 0 or any(w < 0 for w in weights):
        raise ValueError(f"style weights must be non-negative with a positive sum, got {list(weights)}")
    if len(tensors) == 1:
        return tensors[0]
    return torch.stack([t * (w / total) for t, w in zip(tensors, weights, strict=True)]).sum(dim=0)


# --------------------------------------------------------------------------- loss classes
def energy(target: torch.Tensor) -> torch.Tensor:
    """mean T^2 (floored): the scale a loss against ``target`` is divided by."""
    return torch.mean(target**2).clamp_min(1e-12)


class ContentLoss:
    """weight * content_loss / energy(P) at one layer, against a target fixed by ``set_target``."""

    def __init__(self, layer: str, weight: float) -> None:
        self.layer = layer
        self.weight = weight
        self.target: torch.Tensor | None = None
        self.scale = 1.0

    def set_target(self, features: dict[str, torch.Tensor]) -> None:
        self.target = features[self.layer].detach()
        self.scale = float(energy(self.target))

    def __call__(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        assert self.target is not None, "set_target first"
        return self.weight / self.scale * content_loss(features[self.layer], self.target)


class GramStyleLoss:
    """weight * sum_l w_l E_l / energy(A^l) over ``layers`` (Gatys eq. 5, layer-balanced); the
    target Gram matrices of several style images are blended with the style weights,
    A^l = sum_i v_i G^l(style_i)."""

    def __init__(
        self, layers: Sequence[str], weight: float, layer_weights: Sequence[float] | None = None
    ) -> None:
        self.layers = tuple(layers)
        self.weight = weight
        self.layer_weights = (
            tuple(layer_weights) if layer_weights else tuple(1.0 / len(self.layers) for _ in self.layers)
        )
        if len(self.layer_weights) != len(self.layers):
            raise ValueError(f"{len(self.layers)} style layers but {len(self.layer_weights)} layer weights")
        self.targets: dict[str, torch.Tensor] = {}
        self.scales: dict[str, float] = {}

    def set_targets(
        self, style_features: Sequence[dict[str, torch.Tensor]], style_weights: Sequence[float]
    ) -> None:
        self.targets = {
            layer: blend([gram_matrix(f[layer]).detach() for f in style_features], style_weights)
            for layer in self.layers
        }
        self.scales = {layer: float(energy(target)) for layer, target in self.targets.items()}

    def __call__(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        assert self.targets, "set_targets first"
        return (
            self.weight
            * torch.stack(
                [
                    w / self.scales[layer] * gram_loss(gram_matrix(features[layer]), self.targets[layer])
                    for layer, w in zip(self.layers, self.layer_weights, strict=True)
                ]
            ).sum()
        )


class TotalVariationLoss:
    """weight * total_variation(image)."""

    def __init__(self, weight: float) -> None:
        self.weight = weight

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self.weight * total_variation(image)
