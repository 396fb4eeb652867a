import numpy as np
import pytest

from stylesim.evaluation.metrics import (
    average_precision_at_k,
    csd_map_at_k,
    evaluate_rankings,
    precision_at_k,
    ranking_from_scores,
    recall_at_k,
)


def test_hand_computed_example():
    rel = np.array([1, 0, 1, 0, 0])  # relevant at ranks 1 and 3, R = 2
    assert precision_at_k(rel, 1) == 1.0
    assert precision_at_k(rel, 5) == pytest.approx(0.4)
    # AP = (1/1 + 2/3) / 2
    assert average_precision_at_k(rel, 10, 2) == pytest.approx((1 + 2 / 3) / 2)
    # R = 4 relevant in the database but only 2 retrieved in the top 5: AP@5 = (1 + 2/3) / 4
    assert average_precision_at_k(rel, 5, 4) == pytest.approx((1 + 2 / 3) / 4)
    # CSD: mean of P@1..P@3 = (1 + 1/2 + 2/3) / 3
    assert csd_map_at_k(rel, 3) == pytest.approx((1 + 0.5 + 2 / 3) / 3)
    assert recall_at_k(rel, 1) == 1.0 and recall_at_k(np.array([0, 0, 1]), 2) == 0.0


def test_rankings_exclude_self_and_leakage():
    # items: 0,1 share style A; 2,3 style B; contents: 0,2 = x; 1,3 = y
    scores = np.array([[1, 0.9, 0.1, 0.2], [0.9, 1, 0.3, 0.1], [0.1, 0.3, 1, 0.8], [0.2, 0.1, 0.8, 1]])
    ranking = ranking_from_scores(scores)
    assert ranking.shape == (4, 3) and all(q not in ranking[q] for q in range(4))
    m = evaluate_rankings(ranking, np.array(["A", "A", "B", "B"]), np.array(["x", "y", "x", "y"]), ks=(1,))
    assert m["P@1"] == 1.0 and m["mAP@10"] == 1.0
    # leakage@5 over 3 results: exactly one same-content item among them -> 1/5
    assert m["leakage@5"] == pytest.approx(0.2)
