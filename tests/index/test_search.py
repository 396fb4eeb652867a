"""``--by style`` (content discount) and ``--by style-relative``: pure functions, then their
effect on the real grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stylesim.index.expansion import expanded, expanded_matrix, expansion_neighbours
from stylesim.index.palette import palette_match, with_palette_match
from stylesim.index.policy import (
    RELATIVE,
    RELATIVE_MAX_STYLE,
    RELATIVE_NEIGHBOURS,
    RELATIVE_Z,
    STYLE_COLOUR_WEIGHT_RANGE,
    STYLE_CONTENT_DISCOUNT,
    STYLE_FUSION,
    STYLE_TYPICAL_CONTENT_Z,
)
from stylesim.index.relative import relative_style, sample_ids, version_threshold
from stylesim.index.search import (
    content_beyond_typical,
    content_discounted,
    query_descriptors,
    search_vectors,
    typical_content,
)
from stylesim.index.store import IndexStore


def test_content_discount_formula():
    style = np.array([1.0, 0.5, 0.5, 0.5, -0.2])
    content = np.array([0.9, 0.0, 0.4, 0.8, 0.5])
    out = content_discounted(style, content, 1.0)
    # s - c (1 - s), by hand
    assert out == pytest.approx([1.0, 0.5, 0.3, 0.1, -0.8])
    assert content_discounted(style, content, 0.0) == pytest.approx(style)


def test_only_the_content_above_the_querys_typical_is_discounted():
    # two queries: one whose other items share little content (median 0.1), one whose items all
    # share much (median 0.5, icons on one canvas); the query itself (1.0) is left out, and one
    # version of it (0.9) moves neither the median nor the median absolute deviation (0.1)
    rows = np.array([[1.0, 0.0, 0.2, 0.0, 0.2, 0.1, 0.9, 0.1], [0.4, 1.0, 0.6, 0.4, 0.6, 0.5, 0.5, 0.5]])
    spread = 1.4826 * 0.1
    assert typical_content(rows, 2.0) == pytest.approx([0.1 + 2 * spread, 0.5 + 2 * spread])
    assert typical_content(np.ones((1, 3)), 2.0) == pytest.approx([1.0])  # nothing but copies
    candidates = np.array([0.1, 0.3, 0.65, 1.0])
    # c' = clip((c - t) / (1 - t), 0, 1): nothing up to the typical, 1 for the same picture
    assert content_beyond_typical(candidates, 0.3) == pytest.approx([0.0, 0.0, 0.5, 1.0])
    assert content_beyond_typical(candidates, 0.7) == pytest.approx([0.0, 0.0, 0.0, 1.0])
    assert content_beyond_typical(candidates, 1.0) == pytest.approx([0.0, 0.0, 0.0, 1.0], abs=1e-6)


def test_the_content_sample_is_fixed_and_follows_the_collection(grid_index, monkeypatch):
    import stylesim.index.store as store_module

    monkeypatch.setattr(store_module, "TYPICAL_CONTENT_SAMPLE", 5)
    store = IndexStore.open(grid_index)
    sample = store.content_sample()
    expected = store.vectors_of("content", sample_ids(store.ids(), 5))
    assert sample.shape == (5, store.descriptors["content"].dim)
    np.testing.assert_array_equal(sample, expected)
    assert IndexStore.open(grid_index).content_sample() is not sample  # another opening draws again
    np.testing.assert_array_equal(IndexStore.open(grid_index).content_sample(), sample)  # the same items
    store.state["items"] -= 1  # the collection changed: drawn again
    assert store.content_sample() is not sample


def test_style_search_discounts_the_same_photo_in_other_looks(grid_index):
    store = IndexStore.open(grid_index)
    assert query_descriptors("style", store) == ["gram", "colour", "content", "coarse"]  # adain weighs 0
    assert query_descriptors("gram", store) == ["gram"]
    photos = [Path(p).stem for p in store.items["path"]]
    looks = [Path(p).parent.name for p in store.items["path"]]
    ids = np.array([i for i, look in zip(store.items.index, looks, strict=True) if look != "photo"])
    queries = {n: store.vectors_of(n, ids) for n in ("gram", "adain", "colour", "content", "coarse")}
    row = {i: j for j, i in enumerate(store.items.index)}

    def same_photo_rank(discount: float) -> float:
        """Mean rank of the query's photo in the other looks, over the whole ranking."""
        ranks = []
        for q, hits in zip(
            ids, search_vectors(store, queries, "style", len(row), discount=discount), strict=True
        ):
            assert hits[0].id == q  # the query itself stays first: its look is its own
            ranks += [r for r, h in enumerate(hits) if h.id != q and photos[row[h.id]] == photos[row[q]]]
        return float(np.mean(ranks))

    plain, discounted = same_photo_rank(0.0), same_photo_rank(STYLE_CONTENT_DISCOUNT)
    assert discounted > plain + 1, (plain, discounted)  # pushed down by more than a place on average

    hit = search_vectors(store, {n: v[:1] for n, v in queries.items()}, "style", 3)[0][1]
    expected = expanded_style_score(store, {n: v[0] for n, v in queries.items()}, hit.id)
    assert hit.score == pytest.approx(expected, abs=1e-5)


def test_style_search_adds_the_palette_match(grid_index):
    """A query whose colour vector is another photo's in another look: that item's palette
    matches exactly, and its score is the written-out formula with the palette term."""
    store = IndexStore.open(grid_index)
    photos = [Path(p).stem for p in store.items["path"]]
    looks = [Path(p).parent.name for p in store.items["path"]]
    q = 0
    x = next(i for i in range(len(photos)) if photos[i] != photos[q] and looks[i] != looks[q])
    ids = store.ids()
    query = {n: store.vectors_of(n, ids[[q]])[0] for n in ("gram", "adain", "colour", "content", "coarse")}
    query["colour"] = store.vectors_of("colour", ids[[x]])[0]
    hits = search_vectors(store, {n: v[None] for n, v in query.items()}, "style", len(ids))[0]
    hit = next(h for h in hits if h.id == ids[x])
    assert hit.scores["colour"] == pytest.approx(1.0, abs=1e-3)
    assert hit.score == pytest.approx(expanded_style_score(store, query, hit.id), abs=1e-5)
    without = discounted_style_scores(store, query, palette=False)[x]
    assert discounted_style_scores(store, query)[x] > without + 0.05  # the term is there, and large


def discounted_style_scores(
    store: IndexStore, query: dict[str, np.ndarray], palette: bool = True
) -> np.ndarray:
    """--by style's score of every item for one query, written out from the policy (before the
    query expansion): the fusion, the palette match, the content discount, the near-duplicate rule."""
    every = {n: store.vectors_of(n, store.ids()) @ query[n] for n in ("gram", "colour", "content", "coarse")}
    # colour weighs the collection's gram/colour agreement (within its range), gram the rest
    agreement = store.style_agreement()
    assert agreement is not None  # measured when the index was committed
    colour = float(np.clip(agreement, *STYLE_COLOUR_WEIGHT_RANGE))
    s = (1 - colour) * every["gram"] + colour * every["colour"]
    # the palette match: above a colour cosine of 0.97, colour takes half of what the Gram
    # matrices leave (the other components' fused cosine: adain weighs 0)
    if palette:
        s = s + colour * 0.5 * np.clip((every["colour"] - 0.97) / 0.03, 0, 1) * (1 - every["gram"])
    # the query's typical content cosine over the collection (all of it: under the sample size),
    # the query itself left out
    others = every["content"][every["content"] < 0.999]
    median = np.median(others)
    typical = median + STYLE_TYPICAL_CONTENT_Z * 1.4826 * np.median(np.abs(others - median))
    beyond = np.clip((every["content"] - typical) / (1 - typical), 0, 1)
    s = s - STYLE_CONTENT_DISCOUNT * beyond * (1 - s)
    near = (every["content"] >= 0.5) & (every["colour"] >= 0.95) & (every["coarse"] >= 0.95)
    return np.where(near, np.maximum(s, every["coarse"]), s)


def expanded_style_score(store: IndexStore, query: dict[str, np.ndarray], item: int) -> float:
    """--by style's score of ``item``: the query's discounted score plus half the mean of its three
    best neighbours' (the query itself left out), over 1.5."""
    ids = store.ids()
    own = discounted_style_scores(store, query)
    copies = store.vectors_of("content", ids) @ query["content"] >= 0.999
    best = [int(i) for i in ids[np.argsort(-own, kind="stable")] if not copies[ids == i][0]][:3]
    at = int(np.flatnonzero(ids == item)[0])
    theirs = [
        discounted_style_scores(store, {n: store.vectors_of(n, np.array([j]))[0] for n in query})[at]
        for j in best
    ]
    score = (own[at] + 0.5 * np.mean(theirs)) / 1.5
    return max(score, near_duplicate_floor(store, query, item))


def near_duplicate_floor(store: IndexStore, query: dict[str, np.ndarray], item: int) -> float:
    """The coarse cosine of ``item`` when it passes the near-duplicate rule's gates for the query
    (its score is at least that after the expansion too), else -inf."""
    names = ("content", "colour", "coarse")
    cos = {n: float(store.vectors_of(n, np.array([item]))[0] @ query[n]) for n in names}
    passes = cos["content"] >= 0.5 and cos["colour"] >= 0.95 and cos["coarse"] >= 0.95
    return cos["coarse"] if passes else float("-inf")


def test_relative_style_formula():
    s = np.array([0.6, 0.8, 0.0])
    versions = np.array([[0.0, 0.8, 0.6], [0.0, 0.0, 1.0], [0.6, 0.8, 0.0]])  # <s, v> = 0.64, 0, 1
    # the third is the item itself (same look): gated out; s - mean(first two), unit length
    expected = s - np.array([0.0, 0.4, 0.8])
    assert relative_style(s, versions, max_style=0.8) == pytest.approx(expected / np.linalg.norm(expected))
    assert relative_style(s, versions[2:], max_style=0.8) == pytest.approx(s)  # no versions: itself
    assert relative_style(s, np.zeros((0, 3))) == pytest.approx(s)


def test_version_threshold_is_mean_plus_z_std_of_distinct_pairs():
    content = np.eye(3)[[0, 0, 1, 2]]  # items 0 and 1 show the same picture
    # off-diagonal cosines: 2 ones among 12 -> mean 1/6, std sqrt(1/6 * 5/6)
    assert version_threshold(content, z=2.0) == pytest.approx(1 / 6 + 2 * np.sqrt(5 / 36))


def plain_relative_vectors(store: IndexStore) -> tuple[np.ndarray, np.ndarray, int]:
    """(ids, relative style vectors, items that have versions) of every item, computed here in
    plain numpy from the
    stored vectors by the documented rule (``index.search``'s docstring), independently of the
    search's own code: s_i = [sqrt(w) v_i]; versions = the item's RELATIVE_NEIGHBOURS + 1
    nearest by content whose cosine is above mean + z std of all distinct pairs, and whose
    style cosine is below RELATIVE_MAX_STYLE; r_i = unit(s_i - mean(versions)), or unit(s_i)."""
    ids, _ = store.all_vectors("content")
    vec = {n: store.all_vectors(n)[1].astype(np.float64) for n in ("gram", "adain", "colour", "content")}
    for n in vec:  # every index stores items in the same order
        assert np.array_equal(store.all_vectors(n)[0], ids)
    style = np.concatenate([np.sqrt(w) * vec[n] for n, w in STYLE_FUSION.items()], axis=1)
    content = vec["content"] @ vec["content"].T
    pairs = content[~np.eye(len(ids), dtype=bool)]
    threshold = pairs.mean() + RELATIVE_Z * pairs.std()
    relative, with_versions = [], 0
    for i in range(len(ids)):
        nearest = np.argsort(-content[i], kind="stable")[: RELATIVE_NEIGHBOURS + 1]
        versions = [
            j for j in nearest if content[i, j] > threshold and style[i] @ style[j] < RELATIVE_MAX_STYLE
        ]
        r = style[i] - style[versions].mean(axis=0) if versions else style[i]
        with_versions += bool(versions)
        relative.append(r / np.linalg.norm(r))
    return ids, np.array(relative), with_versions


def test_relative_search_matches_plain_numpy_and_separates_looks(grid_index):
    store = IndexStore.open(grid_index)
    ids, expected, with_versions = plain_relative_vectors(store)
    assert with_versions >= len(ids) // 2  # the grid holds 4 versions of each photo
    looks = np.array([Path(p).parent.name for p in store.items.loc[ids, "path"]])
    queries = {n: store.vectors_of(n, ids) for n in ("gram", "adain", "colour", "content", "coarse")}
    relative = search_vectors(store, queries, RELATIVE, len(ids))
    matrix = expected @ expected.T
    for q, hits in enumerate(relative):  # the relative vectors are stored in float16: ~1e-4 per cosine
        assert [h.score for h in hits] == pytest.approx(sorted(matrix[q], reverse=True), abs=2e-3)
        assert hits[0].id == ids[q]
    row = {i: j for j, i in enumerate(ids)}

    def same_look_in_top3(results) -> int:
        return sum(
            looks[row[h.id]] == looks[q]
            for q, hits in enumerate(results)
            if looks[q] != "photo"
            for h in hits[1:4]
        )

    plain = search_vectors(store, queries, "style", 4)
    assert same_look_in_top3(relative) > same_look_in_top3(plain)


def test_a_few_queries_search_on_one_faiss_thread_and_the_setting_comes_back():
    import faiss

    from stylesim.index.ann import SEARCH_THREADS_FROM, search_threads

    before = faiss.omp_get_max_threads()
    with search_threads(1):
        assert faiss.omp_get_max_threads() == 1
    assert faiss.omp_get_max_threads() == before
    with pytest.raises(RuntimeError), search_threads(3):
        raise RuntimeError("a failed search")
    assert faiss.omp_get_max_threads() == before
    with search_threads(SEARCH_THREADS_FROM):  # a batch shares every core
        assert faiss.omp_get_max_threads() == before


def test_query_expansion_adds_the_best_neighbours_scores_leaving_out_copies():
    scores = np.array(
        [[1.0, 0.9, 0.2, 0.8], [0.9, 1.0, 0.3, 0.1], [0.2, 0.3, 1.0, 0.0], [0.8, 0.1, 0.0, 1.0]]
    )
    copies = np.eye(4, dtype=bool)
    copies[0, 1] = True  # item 1 is an exact copy of query 0: never one of its neighbours
    assert expansion_neighbours(scores[0], copies[0], 2).tolist() == [3, 2]
    assert expansion_neighbours(scores[0], np.ones(4, bool), 2).tolist() == []
    row = expanded(scores[0], scores[[3, 2]], 0.5)
    np.testing.assert_allclose(row, (scores[0] + 0.5 * (scores[3] + scores[2]) / 2) / 1.5)
    first = scores[0]
    assert expanded(first, scores[[]], 0.5) is first  # no neighbours: unchanged
    kept = expanded(scores[0], scores[[3, 2]], 0.5, copies[0])
    np.testing.assert_allclose(kept, [1.0, 0.9, row[2], row[3]])  # the query and its copy stay first
    matrix = expanded_matrix(scores, copies, 2, 0.5)
    np.testing.assert_allclose(matrix[0], kept)
    third = (scores[2] + 0.5 * (scores[1] + scores[0]) / 2) / 1.5
    np.testing.assert_allclose(matrix[2], [third[0], third[1], 1.0, third[3]])
    # as the search re-ranks only a query's best items by s: the others are no results
    deep = expanded_matrix(scores, copies, 2, 0.5, depth=2)
    np.testing.assert_allclose(deep[0], [matrix[0, 0], matrix[0, 1], -np.inf, -np.inf])
    np.testing.assert_allclose(deep[2], [-np.inf, matrix[2, 1], matrix[2, 2], -np.inf])
    assert np.array_equal(expanded_matrix(scores, copies, 2, 0.5, depth=4), matrix)


def test_the_palette_match_takes_a_share_of_what_the_other_components_leave():
    colour = np.array([0.5, 0.97, 0.985, 1.0, 1.0])
    gram = np.array([0.2, 0.2, 0.2, 0.2, 1.0])
    term = palette_match(colour, gram, 0.4, share=0.5, threshold=0.97)
    # below or at the threshold nothing; halfway to 1 half the share; a full match and a Gram
    # cosine of 1 leave nothing to add
    np.testing.assert_allclose(term, [0.0, 0.0, 0.4 * 0.5 * 0.5 * 0.8, 0.4 * 0.5 * 0.8, 0.0], atol=1e-12)
    weights = {"gram": 0.6, "adain": 0.0, "colour": 0.4}
    scores = {"gram": gram, "adain": np.full(5, -1.0), "colour": colour}  # adain weighs 0: not in r
    fused = 0.6 * gram + 0.4 * colour
    np.testing.assert_allclose(with_palette_match(fused, scores, weights), fused + term)
    assert with_palette_match(fused, scores, {"colour": 1.0}) is fused  # nothing else weighed
    assert with_palette_match(fused, scores, {"gram": 1.0}) is fused  # no colour
    # the score stays at most 1 for any Gram cosine, as long as w_colour (1 + share) <= 1
    grid = np.linspace(-1, 1, 41)
    for w in (0.1, 0.5):
        top = (1 - w) * grid + w * 1.0 + palette_match(np.ones_like(grid), grid, w)
        assert top.max() <= 1.0 + 1e-12


def test_style_search_without_colour_in_the_fusion_still_checks_near_duplicates(grid_index):
    """An index whose manifest weighs colour 0 still has the colour descriptor the
    near-duplicate rule reads: each candidate's colour cosine is computed for the rule."""
    store = IndexStore.open(grid_index)
    store.fusion = {"gram": 1.0, "adain": 0.0, "colour": 0.0}
    ids = store.ids()[:2]
    queries = {n: store.vectors_of(n, ids) for n in query_descriptors("style", store)}
    assert "colour" in queries  # asked of the query for the near-duplicate rule
    hits = search_vectors(store, queries, "style", 3)
    assert [row[0].id for row in hits] == ids.tolist()  # each item finds itself first
    assert all("colour" in h.scores for row in hits for h in row)


class SpacesSearched:
    """An index store that records which spaces a search asks for candidates, and whose colour
    weight has not been measured (``style_agreement`` None: ``--by style`` then takes its
    candidates from the stacked style space)."""

    def __init__(self, store: IndexStore) -> None:
        self.store, self.spaces = store, list[str]()

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def __len__(self) -> int:
        return len(self.store)

    def style_agreement(self) -> None:
        return None

    def candidates(self, space: str, queries: np.ndarray, depth: int) -> list[np.ndarray]:
        self.spaces.append(space)
        return self.store.candidates(space, queries, depth)


def test_style_search_also_takes_candidates_from_colour_for_the_palette_match(grid_index):
    """An item whose palette matches the query's can be lifted from far down the stacked
    ranking: colour's own nearest are candidates too; other modes do not ask for them."""
    store = SpacesSearched(IndexStore.open(grid_index))
    queries = {n: store.vectors_of(n, store.ids()[:1]) for n in query_descriptors("style", store)}
    search_vectors(store, queries, "style", 3)
    assert store.spaces == ["style", "coarse", "colour"]
    store.spaces.clear()
    search_vectors(store, queries, "style+content", 3, weights={"gram": 0.5, "colour": 0.2, "content": 0.3})
    assert store.spaces == ["gram", "colour", "content"]  # no palette match: nothing besides
