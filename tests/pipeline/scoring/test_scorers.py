"""Per-identity aggregation of one-vs-all cosine scores."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.scoring.scorers import (
    Aggregation,
    CosineScorer,
    aggregate_by_identity,
    cosine_to_score,
    rank_identities,
)


def test_max_and_mean_n_by_hand():
    sims = np.array([0.9, 0.1, 0.5, 0.8, 0.7, 0.2])
    labels = np.array([0, 0, 1, 1, 1, 2])
    agg, rows = aggregate_by_identity(sims, labels, 4, Aggregation("max"))
    assert agg[:3].tolist() == [0.9, 0.8, 0.2] and agg[3] == -np.inf
    assert rows.tolist() == [0, 3, 5, -1]
    agg, rows = aggregate_by_identity(sims, labels, 3, Aggregation("mean_n", 2))
    assert agg.tolist() == pytest.approx([0.5, 0.75, 0.2])
    assert rows.tolist() == [0, 3, 5]


def test_mean_n_ignores_unscored_rows():
    sims = np.array([0.9, -np.inf, -np.inf, 0.3])
    agg, rows = aggregate_by_identity(sims, np.array([0, 0, 0, 1]), 2, Aggregation("mean_n", 3))
    assert agg.tolist() == pytest.approx([0.9, 0.3]) and rows.tolist() == [0, 3]


def test_rank_identities_on_unit_vectors():
    g = np.eye(4, dtype=np.float32)[[0, 1, 1, 2, 3]]
    labels = np.array([0, 1, 1, 2, 3])
    q = np.array([0.6, 0.8, 0, 0], np.float32)
    sims = CosineScorer(g).row_scores(q)
    top = rank_identities(sims, g, q, labels, ["a", "b", "c", "d"], 2, Aggregation())
    assert [m.identity for m in top] == ["b", "a"]
    assert top[0].row in (1, 2) and top[0].cosine == pytest.approx(0.8)
    assert top[0].score == pytest.approx(0.9)


def test_unscored_rows_are_never_ranked():
    g = np.eye(3, dtype=np.float32)
    sims = np.array([0.7, -np.inf, 0.9])
    top = rank_identities(sims, g, g[0], np.array([0, 1, 2]), ["a", "b", "c"], 3, Aggregation(),
                          display=lambda v: v)
    assert [m.identity for m in top] == ["c", "a"] and top[0].score == pytest.approx(0.9)


def test_score_mapping_is_documented_range():
    assert cosine_to_score(-1.0) == 0.0 and cosine_to_score(1.0) == 1.0 and cosine_to_score(0.0) == 0.5
