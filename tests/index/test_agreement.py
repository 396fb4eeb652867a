"""The colour weight of ``--by style`` follows how far the Gram matrices and colour agree about the
collection (``index.agreement``): the formulas, and the value a real index records at each
commit against a brute-force count over its exact cosines."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from stylesim import api
from stylesim.index import compaction, writing
from stylesim.index.agreement import beyond_chance, colour_weighted, neighbour_agreement, without_themselves
from stylesim.index.policy import STYLE_AGREEMENT_NEIGHBOURS, STYLE_COLOUR_WEIGHT_RANGE
from stylesim.index.search import fusion_weights
from stylesim.index.store import IndexStore


def test_agreement_is_the_mean_share_of_shared_neighbours():
    first = np.array([[1, 2, 3], [4, 5, -1]])
    second = np.array([[3, 2, 9], [7, 8, -1]])
    assert neighbour_agreement(first, second) == pytest.approx((2 / 3 + 0 / 2) / 2)
    found = np.array([[7, 3, 4, 5], [1, 2, 8, -1]])
    assert without_themselves(found, np.array([3, 9]), 3).tolist() == [[7, 4, 5], [1, 2, 8]]
    # corrected for chance: 5 neighbours among 10 others overlap by half with nothing in common
    assert beyond_chance(0.5, 5, 11) == 0.0 and beyond_chance(1.0, 5, 11) == 1.0
    assert beyond_chance(0.3, 5, 1_000_001) == pytest.approx(0.3, abs=1e-5)


def test_colour_weight_is_the_agreement_within_its_range_the_rest_scaled():
    low, high = STYLE_COLOUR_WEIGHT_RANGE
    today = {"gram": 0.7, "colour": 0.3}
    assert colour_weighted(today, 0.0) == pytest.approx({"gram": 1 - low, "colour": low})
    assert colour_weighted(today, 0.42) == pytest.approx({"gram": 0.58, "colour": 0.42})
    assert colour_weighted(today, 0.9) == pytest.approx({"gram": 1 - high, "colour": high})
    assert colour_weighted(today, None) == today  # committed before it was measured
    assert colour_weighted({"gram": 1.0}, 0.4) == {"gram": 1.0}
    legacy = colour_weighted({"gram": 0.5, "adain": 0.2, "colour": 0.3}, 0.4)
    assert legacy == pytest.approx({"gram": 0.5 * 0.6 / 0.7, "adain": 0.2 * 0.6 / 0.7, "colour": 0.4})


def brute_force_agreement(store: IndexStore) -> float:
    ids = store.ids()
    nearest = []
    for name in ("gram", "colour"):
        v = store.vectors_of(name, ids).astype(np.float64)
        cosines = v @ v.T
        np.fill_diagonal(cosines, -np.inf)
        nearest.append(np.argsort(-cosines, axis=1, kind="stable")[:, :STYLE_AGREEMENT_NEIGHBOURS])
    overlap = float(np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(*nearest, strict=True)]))
    chance = STYLE_AGREEMENT_NEIGHBOURS / (len(ids) - 1)  # unrelated lists of 5 among n - 1 share this
    return (overlap - chance) / (1 - chance)


def test_commits_that_change_items_record_the_collections_agreement_and_search_weighs_colour_by_it(
    grid_index, tmp_path, monkeypatch
):
    store = IndexStore.open(grid_index)
    agreement = store.style_agreement()
    assert agreement is not None and agreement == pytest.approx(brute_force_agreement(store))
    colour = float(np.clip(agreement, *STYLE_COLOUR_WEIGHT_RANGE))
    assert fusion_weights("style", store) == pytest.approx({"gram": 1 - colour, "colour": colour})
    shown = api.index_info(grid_index)["search_modes"]["style"]
    assert shown["colour"] == pytest.approx(colour)
    copy = tmp_path / "index"
    shutil.copytree(grid_index, copy)
    with IndexStore.open_for_writing(copy) as writer:
        writer.remove(writer.ids()[::3])  # every third item gone
        writer.commit()
    smaller = IndexStore.open(copy)
    assert len(smaller) == 10
    assert smaller.style_agreement() == pytest.approx(brute_force_agreement(smaller))
    before = (smaller.style_agreement(), [s.name for s in smaller.segments])

    def measured(*_: object) -> float:
        raise AssertionError("a plain merge changes no item: the agreement is not measured again")

    monkeypatch.setattr(writing, "collection_agreement", measured)
    with IndexStore.open_for_writing(copy) as writer:
        assert writer.compact(everything=True) >= 1  # the removed items' segments rewritten
        writer.commit()
    merged = IndexStore.open(copy)
    assert [s.name for s in merged.segments] != before[1]
    assert merged.style_agreement() == before[0]

    monkeypatch.setattr(writing, "collection_agreement", lambda *_: 0.25)  # a refit moves every vector
    with IndexStore.open_for_writing(copy) as writer:
        assert compaction.refit_if_needed(writer, force=True)
        writer.commit()
    assert IndexStore.open(copy).style_agreement() == 0.25  # measured again
