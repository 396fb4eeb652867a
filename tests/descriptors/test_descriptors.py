import math

import numpy as np
import pytest
import torch

from stylesim.collection.decode import decode_for_encoding
from stylesim.descriptors.ops import (
    channel_mean_std,
    colour_histogram,
    foreground_mask,
    gram_matrix,
    gram_vector,
    instance_normalise,
)
from stylesim.descriptors.sketch import CountSketch
from stylesim.descriptors.standardise import Standardiser
from stylesim.errors import StylesimError
from tests.conftest import GRID_LOOKS, GRID_PHOTOS, TEST_SIZE, photo


def cos(a, b) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_gram_matrix_matches_plain_formula():
    f = torch.randn(2, 5, 3, 4)
    g = gram_matrix(f)
    for n in range(2):
        for i in range(5):
            for j in range(5):
                expected = sum(float(f[n, i, y, x] * f[n, j, y, x]) for y in range(3) for x in range(4)) / 12
                assert math.isclose(float(g[n, i, j]), expected, rel_tol=1e-5, abs_tol=1e-6)


def test_channel_mean_std_and_instance_norm_match_formulas():
    f = torch.rand(1, 3, 5, 5) * 4
    mean, std = channel_mean_std(f, eps=0.0)
    torch.testing.assert_close(mean[0], f[0].reshape(3, -1).mean(1))
    torch.testing.assert_close(std[0], f[0].reshape(3, -1).std(1, unbiased=False))
    z = instance_normalise(f, eps=0.0)
    torch.testing.assert_close(z.mean(dim=(2, 3)), torch.zeros(1, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std(dim=(2, 3), unbiased=False), torch.ones(1, 3), atol=1e-4, rtol=0)


def test_gram_vector_inner_product_is_layer_averaged_frobenius():
    feats = {"relu1_1": torch.rand(2, 64, 6, 6), "relu2_1": torch.rand(2, 128, 3, 3)}
    v = gram_vector(feats, ("relu1_1", "relu2_1"))
    assert torch.allclose(v.norm(dim=1), torch.ones(2), atol=1e-5)
    expected = 0.0
    for features in feats.values():
        p = gram_matrix(features).sqrt()
        p = p / p.flatten(1).norm(dim=1).view(-1, 1, 1)
        expected += float((p[0] * p[1]).sum()) / 2
    assert math.isclose(float(v[0] @ v[1]), expected, rel_tol=1e-4)


def test_count_sketch_preserves_inner_products_and_is_seeded():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20, 30000, generator=g)
    x = x / x.norm(dim=1, keepdim=True)
    x[1] = 0.8 * x[0] + 0.6 * x[1]  # a pair with cosine ~0.8
    sketch = CountSketch(30000, 2048, seed=3)
    y = sketch(x)
    true = (x @ x.T).numpy()
    approx = (y @ y.T).numpy()
    assert np.abs(true - approx).max() < 0.15
    assert abs(approx[0, 1] - true[0, 1]) < 0.1
    torch.testing.assert_close(CountSketch(30000, 2048, seed=3)(x), y)
    assert not torch.allclose(CountSketch(30000, 2048, seed=4)(x), y)


def test_gram_and_adain_do_not_depend_on_image_size(tmp_path, extractor):
    """The same photo saved at 512 px and 200 px gives (almost) the same style vectors."""
    from PIL import Image

    img = Image.fromarray(photo("chelsea", 512))
    big, small = tmp_path / "big.png", tmp_path / "small.png"
    img.save(big)
    img.resize((200, round(200 * img.height / img.width)), Image.Resampling.LANCZOS).save(small)
    a = extractor(decode_for_encoding(str(big), TEST_SIZE).pixels)
    b = extractor(decode_for_encoding(str(small), TEST_SIZE).pixels)
    other = extractor(decode_for_encoding(str(tmp_path / "big.png"), TEST_SIZE).pixels * 0 + 128)
    assert cos(a["gram"], b["gram"]) > 0.99
    assert cos(a["adain"], b["adain"]) > 0.99
    assert np.abs(a["adain"] - b["adain"]).sum() < 0.15 * np.abs(a["adain"] - other["adain"]).sum()


def test_content_is_invariant_to_style(grid_dir, extractor):
    """Each photo's restyled versions are nearer to it than to any other photo, by content,
    and the content vector moves less under restyling than the style vectors do."""
    vec = {
        (p, look): extractor(decode_for_encoding(str(grid_dir / look / f"{p}.jpg"), TEST_SIZE).pixels)
        for p in GRID_PHOTOS
        for look in GRID_LOOKS
    }
    for p in GRID_PHOTOS:
        for look in GRID_LOOKS[1:]:
            sims = {q: cos(vec[(p, look)]["content"], vec[(q, "photo")]["content"]) for q in GRID_PHOTOS}
            assert max(sims, key=sims.get) == p, (p, look, sims)
    same = np.mean(
        [
            cos(vec[(p, "photo")]["content"], vec[(p, look)]["content"])
            for p in GRID_PHOTOS
            for look in GRID_LOOKS[1:]
        ]
    )
    other = np.mean(
        [
            cos(vec[(p, "photo")]["content"], vec[(q, "photo")]["content"])
            for p in GRID_PHOTOS
            for q in GRID_PHOTOS
            if p != q
        ]
    )
    assert same > other + 0.3


def test_standardiser_round_trip_and_centring():
    rng = np.random.default_rng(0)
    raw = rng.normal(5.0, [1.0] * 3 + [100.0] * 2, size=(50, 5))
    st = Standardiser.fit(raw, [3, 2], "block")
    unit, norms = st.apply(raw)
    assert np.allclose(np.linalg.norm(unit, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(st.invert(unit, norms), raw, rtol=1e-4)
    z = (raw - st.mean) / st.scale
    # block scaling: both blocks carry the same mean squared norm
    assert math.isclose((z[:, :3] ** 2).sum(1).mean(), (z[:, 3:] ** 2).sum(1).mean(), rel_tol=1e-6)
    centred = Standardiser.fit(raw, [5], "centre")
    assert np.allclose(centred.scale, 1) and np.allclose(centred.mean, raw.mean(0))


def test_colour_histogram_is_a_unit_sqrt_histogram():
    pixels = np.zeros((2, 4, 4, 3), np.uint8)
    pixels[1, :2] = 255
    h = colour_histogram(pixels).numpy()
    assert h.shape == (2, 512)
    assert np.allclose(np.linalg.norm(h, axis=1), 1)
    assert h[0, 0] == pytest.approx(1.0) and h[1, 0] == pytest.approx(math.sqrt(0.5))


def drawing_on_canvas(canvas_side: int) -> np.ndarray:
    """A 96 px photo of a cat (96 x 64) pasted on a white canvas of ``canvas_side`` px."""
    canvas = np.full((canvas_side, canvas_side, 3), 255, np.uint8)
    cat = photo("chelsea", 96)
    canvas[8 : 8 + cat.shape[0], 8 : 8 + cat.shape[1]] = cat
    return canvas


def test_a_plain_canvas_weighs_at_most_what_the_drawing_weighs_in_the_colour_histogram():
    from stylesim.descriptors.colour import ColourDescriptor

    balanced, every_pixel = ColourDescriptor(), ColourDescriptor(background="all")
    white = 999  # the bin of (255, 255, 255) at 10 levels

    def histograms(picture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return tuple(
            d.from_features({}, torch.from_numpy(picture)[None])[0].numpy() for d in (balanced, every_pixel)
        )

    small, large = histograms(drawing_on_canvas(128)), histograms(drawing_on_canvas(256))
    assert every_pixel.from_features({}, torch.from_numpy(drawing_on_canvas(128))[None]).shape == (1, 1000)
    assert 0.45 < small[0][white] ** 2 < 0.55 and large[1][white] ** 2 > 0.9  # paper: half, not 94 %
    # how much paper a drawing leaves does not change its palette; counted alike, it does
    assert float(small[0] @ large[0]) > 0.99
    assert float(small[1] @ large[1]) < 0.97
    cat = np.array(photo("chelsea", 96))  # no plain canvas: every pixel counts alike
    assert np.allclose(*histograms(cat), atol=1e-6)


def test_a_canvas_counts_as_one_as_far_as_its_border_is_flat():
    """A deep-field photo's dark sky and a brick wall's mortar-grey edge are mostly near their
    border's median colour, as a canvas is, but not flat: the sky (a border 38 % flat) counts
    every pixel, the bricks (66 %) are discounted a third of the way. A silhouette on white
    (100 %) keeps its canvas balanced."""
    from stylesim.descriptors.colour import ColourDescriptor

    def histogram(picture: np.ndarray, background: str) -> np.ndarray:
        pixels = torch.from_numpy(np.ascontiguousarray(picture))[None]
        return ColourDescriptor(background=background).from_features({}, pixels)[0].numpy()

    sky, bricks, horse = (np.array(photo(name, 256)) for name in ("hubble_deep_field", "brick", "horse"))
    for picture in (sky, bricks):  # the test before took both for drawings on a canvas
        assert float(foreground_mask(torch.from_numpy(picture)[None]).mean()) < 0.25
    assert np.allclose(histogram(sky, "balanced-flat"), histogram(sky, "all"), atol=1e-6)
    assert not np.allclose(histogram(sky, "balanced"), histogram(sky, "all"), atol=1e-3)
    flat, old, every = (histogram(bricks, b) for b in ("balanced-flat", "balanced", "all"))
    assert float(flat @ every) > float(old @ every) + 0.01 and float(flat @ old) > float(every @ old) + 0.01
    assert np.allclose(histogram(horse, "balanced-flat"), histogram(horse, "balanced"), atol=1e-6)
    assert not np.allclose(histogram(horse, "balanced-flat"), histogram(horse, "all"), atol=1e-3)


def test_an_index_made_before_the_balanced_colour_keeps_counting_every_pixel():
    from stylesim.descriptors import build_descriptors
    from stylesim.index.manifest import without_legacy_settings

    before = {"descriptors": {"colour": {"bins": 8, "dim": 512}}}
    assert build_descriptors(without_legacy_settings(before)["descriptors"])["colour"].config() == {
        "bins": 8, "dim": 512, "background": "all"
    }  # fmt: skip
    assert build_descriptors()["colour"].config()["background"] == "balanced-flat"
    balanced = {"descriptors": {"colour": {"bins": 10, "dim": 1000, "background": "balanced"}}}
    kept = build_descriptors(without_legacy_settings(balanced)["descriptors"])["colour"]
    assert kept.config()["background"] == "balanced"  # made 2026-12-06/07: no flatness test


def test_network_sees_luminance_only_colour_histogram_sees_colour(extractor):
    """Same luma, other colours (hue rotated in YIQ, so Y is unchanged): every network
    descriptor is identical, the colour histogram is not."""
    from stylesim.encoding.preprocess import LUMA

    rgb = photo("coffee", TEST_SIZE).astype(np.float64)
    luma = np.array(LUMA)
    y = rgb @ luma
    chroma = (rgb - y[..., None])[..., [2, 0, 1]]  # the colours moved to other channels
    chroma -= (chroma @ luma)[..., None]  # with no luma of their own
    swapped = np.clip(y[..., None] + 0.6 * chroma, 0, 255)  # muted a little to stay in gamut
    assert extractor.network_input == "luminance"
    a = extractor(rgb.round().astype(np.uint8)[None])
    b = extractor(swapped.round().astype(np.uint8)[None])
    same_luma = np.abs(swapped.round() @ np.array(LUMA) - rgb.round() @ np.array(LUMA))
    assert (
        np.percentile(same_luma, 95) < 1.0 and same_luma.mean() < 1.0
    )  # rounding and a little clipping only
    for name in ("gram", "adain", "content"):
        assert cos(a[name], b[name]) > 0.99, name
    assert cos(a["colour"], b["colour"]) < 0.9


def test_gram_whitening_is_the_shipped_linear_map_fitted_for_this_sketch(extractor):
    from stylesim.descriptors.gram import DEFAULT_WHITENING, GramDescriptor
    from stylesim.descriptors.whitening import load_whitening

    gram = extractor.descriptors["gram"]
    assert gram.config()["whitening"] == DEFAULT_WHITENING
    whitening = load_whitening(DEFAULT_WHITENING)
    assert "openclipart" in whitening.about["reference"] and whitening.basis.shape == (2048, 128)
    features = extractor.features(extractor.to_device(photo("coffee", TEST_SIZE).copy()[None]))
    plain = GramDescriptor(whitening="").from_features(features, None)
    torch.testing.assert_close(gram.from_features(features, None), whitening.apply(plain))
    x, y = torch.randn(2, 1, 2048, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(
        whitening.apply(2 * x - 3 * y), 2 * whitening.apply(x) - 3 * whitening.apply(y)
    )
    with pytest.raises(StylesimError, match="fitted for"):
        _ = GramDescriptor(dim=1024).whitener
    with pytest.raises(StylesimError, match="not installed"):
        _ = GramDescriptor(whitening="nowhere").whitener


def test_whitened_gram_finds_the_same_look_more_often_on_real_photos(grid_dir, extractor):
    """Precision@3 of the same look among the grid's 16 pictures (Gram sketches centred on the
    collection, cosine), with and without the whitening, at 160 px."""
    from stylesim.descriptors.gram import GramDescriptor

    plain, whitened, looks = [], [], []
    for p in GRID_PHOTOS:
        for look in GRID_LOOKS:
            pixels = decode_for_encoding(str(grid_dir / look / f"{p}.jpg"), 160).pixels
            features = extractor.features(extractor.to_device(pixels))
            plain.append(GramDescriptor(whitening="").from_features(features, None)[0].numpy())
            whitened.append(extractor.descriptors["gram"].from_features(features, None)[0].numpy())
            looks.append(look)

    def precision_at_3(vectors: list[np.ndarray]) -> float:
        v = np.array(vectors) - np.mean(vectors, axis=0)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        s = v @ v.T
        np.fill_diagonal(s, -np.inf)
        return float(
            np.mean([np.mean(np.array(looks)[np.argsort(-row)[:3]] == looks[i]) for i, row in enumerate(s)])
        )

    assert precision_at_3(whitened) > precision_at_3(plain) + 0.1


def test_an_index_made_before_the_whitening_keeps_computing_without_it():
    from stylesim.descriptors import build_descriptors
    from stylesim.index.manifest import without_legacy_settings

    before = {"descriptors": {"gram": {"layers": ["relu3_1", "relu4_1"], "dim": 2048, "seed": 0}}}
    assert build_descriptors(without_legacy_settings(before)["descriptors"])["gram"].whitener is None
    assert build_descriptors()["gram"].whitener is not None
    assert "whitening" not in build_descriptors()["coarse"].config()  # near-duplicates: unwhitened


def test_channel_statistics_of_flat_bf16_channels_keep_their_spread():
    """sigma << mu (a crop of sky, a white canvas): the bfloat16 second moment alone would lose
    sigma; the shifted moments keep it, for bf16 activations and for float32 ones under autocast."""
    g = torch.Generator().manual_seed(0)
    flat = (100 + 0.5 * torch.randn(2, 8, 32, 32, generator=g)).to(torch.bfloat16)
    reference = flat.float().std(dim=(2, 3), unbiased=False)
    _, std = channel_mean_std(flat.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(std, reference, rtol=0.01, atol=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mean, std = channel_mean_std(flat.float())
    torch.testing.assert_close(std, reference, rtol=0.01, atol=0)
    torch.testing.assert_close(mean, flat.float().mean(dim=(2, 3)), rtol=1e-3, atol=0)
