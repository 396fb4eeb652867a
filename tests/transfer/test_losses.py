"""Each loss against its plain formula; TV invariants; style blending."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylesim.descriptors.ops import gram_matrix
from stylesim.transfer.losses import (
    ContentLoss,
    GramStyleLoss,
    blend,
    content_loss,
    gram_loss,
    mean_std_loss,
    total_variation,
)

g = torch.Generator().manual_seed(0)


def feats(n=1, c=8, h=6, w=5):
    return torch.rand((n, c, h, w), generator=g) * 3


def test_content_loss_is_the_mean_squared_difference():
    a, b = feats(), feats()
    assert float(content_loss(a, b)) == pytest.approx(float(((a.numpy() - b.numpy()) ** 2).mean()), rel=1e-6)


def test_gram_loss_is_gatys_equation_4():
    f, p = feats(), feats()
    n, m = f.shape[1], f.shape[2] * f.shape[3]
    F, P = f.numpy().reshape(n, m).astype(np.float64), p.numpy().reshape(n, m).astype(np.float64)
    gatys = ((F @ F.T - P @ P.T) ** 2).sum() / (4 * n**2 * m**2)  # unnormalised Gram matrices
    assert float(gram_loss(gram_matrix(f), gram_matrix(p))) == pytest.approx(gatys, rel=1e-5)


def test_total_variation_formula_and_invariants():
    x = torch.rand((1, 3, 7, 9), generator=g)
    a = x.numpy().astype(np.float64)
    plain = ((a[..., 1:, :] - a[..., :-1, :]) ** 2).mean() + ((a[..., :, 1:] - a[..., :, :-1]) ** 2).mean()
    assert float(total_variation(x)) == pytest.approx(plain, rel=1e-5)
    assert float(total_variation(torch.full((1, 3, 5, 5), 0.4))) == 0.0  # flat image
    assert float(total_variation(x + 0.25)) == pytest.approx(
        float(total_variation(x)), rel=1e-5
    )  # brightness shift
    assert float(total_variation(x.flip(-1))) == pytest.approx(float(total_variation(x)), rel=1e-6)  # mirror
    assert float(total_variation(2 * x)) == pytest.approx(4 * float(total_variation(x)), rel=1e-5)  # beta = 2


def test_mean_std_loss_formula():
    f = feats()
    mu, sd = torch.rand(8, generator=g), torch.rand(8, generator=g)
    a = f.numpy()[0].reshape(8, -1).astype(np.float64)
    plain = ((a.mean(1) - mu.numpy()) ** 2).mean() + ((np.sqrt(a.var(1) + 1e-5) - sd.numpy()) ** 2).mean()
    assert float(mean_std_loss(f, mu, sd)) == pytest.approx(plain, rel=1e-4)


def test_style_blend_weights_are_normalised():
    a, b = feats(), feats()
    assert torch.allclose(blend([a, b], [0.7, 0.3]), 0.7 * a + 0.3 * b)
    assert torch.allclose(blend([a, b], [7, 3]), 0.7 * a + 0.3 * b)
    assert torch.allclose(blend([a, b], [1, 0]), a)
    with pytest.raises(ValueError):
        blend([a, b], [1, -1])
    with pytest.raises(ValueError):
        blend([a], [1, 2])


def test_loss_classes_are_the_functions_scaled_by_their_targets():
    layers = ("l1", "l2")
    x = {"l1": feats(c=4), "l2": feats(c=6)}
    s1 = {"l1": feats(c=4), "l2": feats(c=6)}
    s2 = {"l1": feats(c=4), "l2": feats(c=6)}
    style = GramStyleLoss(layers, weight=3.0)
    style.set_targets([s1, s2], [0.7, 0.3])
    expected = 0.0
    for layer in layers:
        target = 0.7 * gram_matrix(s1[layer]) + 0.3 * gram_matrix(s2[layer])
        expected += 0.5 * gram_loss(gram_matrix(x[layer]), target) / torch.mean(target**2)
    assert float(style(x)) == pytest.approx(3.0 * float(expected), rel=1e-5)
    single = GramStyleLoss(layers, weight=1.0)
    single.set_targets([s1, s2], [1.0, 0.0])
    alone = GramStyleLoss(layers, weight=1.0)
    alone.set_targets([s1], [1.0])
    assert float(single(x)) == pytest.approx(float(alone(x)), rel=1e-6)
    content = ContentLoss("l2", weight=2.0)
    content.set_target(s1)
    assert float(content(x)) == pytest.approx(
        2.0 * float(content_loss(x["l2"], s1["l2"]) / torch.mean(s1["l2"] ** 2)), rel=1e-6
    )
