"""Similarity network combiners and the fast gallery scorer against the naive all-pairs network."""

import keras
import numpy as np
import pytest

from models.similarity import (
    CHI2_EPS,
    COMBINERS,
    build_similarity,
    naive_scores,
)
from models.similarity_scorer import SimilarityScorer, combine_numpy


def unit_rows(n, d, seed):
    """n random L2-normalized float32 rows."""
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def combine_layer_output(model, a, b):
    """Output of the model's combine layer for one pair."""
    sub = keras.Model(model.inputs, model.get_layer("combine").output)
    return np.asarray(sub([a, b]))


A = np.array([[1.0, 0.0]], np.float32)
B = np.array([[0.5, -1.0]], np.float32)


@pytest.mark.parametrize(
    "combiner, expected",
    [
        ("concat", [1.0, 0.0, 0.5, -1.0]),
        ("absprod", [0.5, 1.0, 0.5, 0.0]),  # [|a-b|, a*b]
        ("chi2", [0.25 / (1.5 + CHI2_EPS), 1.0 / (1.0 + CHI2_EPS)]),  # (a-b)^2 / (|a|+|b|+eps)
    ],
)
def test_combiners_hand_values(combiner, expected):
    model = build_similarity(dim=2, combiner=combiner)
    np.testing.assert_allclose(combine_layer_output(model, A, B)[0], expected, rtol=1e-6)
    np.testing.assert_allclose(combine_numpy(A, B, combiner)[0], expected, rtol=1e-6)
    out = np.asarray(model([A, B]))
    assert out.shape == (1, 1) and 0.0 < out[0, 0] < 1.0


def test_concat_scorer_exact_topk():
    keras.utils.set_random_seed(1)
    model = build_similarity(dim=32, combiner="concat")
    G = unit_rows(5000, 32, seed=2)
    scorer = SimilarityScorer(model, G, shortlist=200)
    for q in unit_rows(5, 32, seed=3):
        naive = naive_scores(model, q, G)
        idx, scores = scorer.top_k(q, 10)
        np.testing.assert_array_equal(idx, np.argsort(-naive, kind="stable")[:10])
        np.testing.assert_allclose(scores, naive[idx], atol=1e-5)
        np.testing.assert_allclose(scorer.score_all(q), naive, atol=1e-5)


@pytest.mark.parametrize("combiner", ["absprod", "chi2"])
def test_shortlist_scorer_agrees_when_shortlist_covers_gallery(combiner):
    keras.utils.set_random_seed(4)
    model = build_similarity(dim=32, combiner=combiner)
    G = unit_rows(3000, 32, seed=5)
    scorer = SimilarityScorer(model, G, shortlist=len(G))
    for q in unit_rows(3, 32, seed=6):
        naive = naive_scores(model, q, G)
        idx, scores = scorer.top_k(q, 10)
        np.testing.assert_array_equal(idx, np.argsort(-naive, kind="stable")[:10])
        np.testing.assert_allclose(scores, naive[idx], atol=1e-5)


def test_shortlist_restricts_to_cosine_neighbours():
    keras.utils.set_random_seed(7)
    model = build_similarity(dim=16, combiner="absprod")
    G = unit_rows(1000, 16, seed=8)
    q = G[0]
    scorer = SimilarityScorer(model, G, shortlist=50)
    idx, scores = scorer.top_k(q, 5)
    allowed = set(np.argsort(-(G @ q))[:50].tolist())
    assert len(idx) == 5 and set(idx.tolist()) <= allowed
    assert np.all(np.diff(scores) <= 0)


def test_all_combiners_build_and_score():
    G = unit_rows(100, 8, seed=9)
    for combiner in COMBINERS:
        model = build_similarity(dim=8, combiner=combiner)
        idx, scores = SimilarityScorer(model, G, shortlist=200).top_k(G[3], 200)
        assert len(idx) == 100 and len(set(idx.tolist())) == 100
