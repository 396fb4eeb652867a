"""The ``--by style`` content discount: pure function, then its effect on the real grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stylesim.descriptors import STYLE_CONTENT_DISCOUNT
from stylesim.index.codec import vectors_for
from stylesim.index.search import content_discounted, query_descriptors, search_vectors
from stylesim.index.store import IndexStore


def test_content_discount_formula():
    style = np.array([1.0, 0.5, 0.5, 0.5, -0.2])
    content = np.array([0.9, 0.0, 0.4, 0.8, 0.5])
    out = content_discounted(style, content, 1.0)
    # s - c (1 - s), by hand
    assert out == pytest.approx([1.0, 0.5, 0.3, 0.1, -0.8])
    assert content_discounted(style, content, 0.0) == pytest.approx(style)


def test_style_search_discounts_the_same_photo_in_other_looks(grid_index):
    store = IndexStore.open(grid_index)
    assert query_descriptors("style", store) == ["gram", "adain", "colour", "content"]
    assert query_descriptors("gram", store) == ["gram"]
    photos = [Path(p).stem for p in store.items["path"]]
    looks = [Path(p).parent.name for p in store.items["path"]]
    ids = np.array([i for i, look in zip(store.items.index, looks) if look != "photo"])
    queries = {n: vectors_for(store.vectors[n], ids) for n in ("gram", "adain", "colour", "content")}
    row = {i: j for j, i in enumerate(store.items.index)}

    def same_photo_in_top(discount: float) -> int:
        found = 0
        for q, hits in zip(ids, search_vectors(store, queries, "style", 4, discount=discount)):
            assert hits[0].id == q  # the query itself stays first: its look is its own
            found += sum(photos[row[h.id]] == photos[row[q]] for h in hits[1:])
        return found

    plain, discounted = same_photo_in_top(0.0), same_photo_in_top(STYLE_CONTENT_DISCOUNT)
    assert discounted < plain, (plain, discounted)

    hit = search_vectors(store, {n: v[:1] for n, v in queries.items()}, "style", 3)[0][1]
    s = 0.5 * hit.scores["gram"] + 0.2 * hit.scores["adain"] + 0.3 * hit.scores["colour"]
    assert hit.score == pytest.approx(s - STYLE_CONTENT_DISCOUNT * hit.scores["content"] * (1 - s), abs=1e-5)
