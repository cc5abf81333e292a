"""Several photos combined into one query, and the certainty of a ranked answer (demo gallery rows)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from app.pipeline.scoring.certainty import Certainty, certainty, clear_margin, fit_clear_margin, margin
from app.pipeline.scoring.scorers import Aggregation, CosineScorer, Match
from app.pipeline.scoring.several_photos import MAX_PHOTOS, combine_batch, combine_embeddings
from conftest import ROOT, require_setup


@pytest.fixture(scope="module")
def demo():
    """The built demo gallery (86 faces of 5 people), memory-mapped."""
    require_setup()
    from app.pipeline.galleries.reader import Gallery

    return Gallery.load(os.path.join(ROOT, "instance", "galleries", "demo"))


def test_one_photo_is_its_own_query(demo):
    e = np.asarray(demo.embeddings[0])
    np.testing.assert_allclose(combine_embeddings(e[None]), e, atol=1e-6)
    np.testing.assert_allclose(combine_embeddings(e), e, atol=1e-6)


def test_combined_photos_are_nearer_to_the_persons_other_photos(demo):
    X, labels = np.asarray(demo.embeddings, np.float32), np.asarray(demo.labels)
    for identity in range(len(demo.identities)):
        mine = np.flatnonzero(labels == identity)
        three, others = X[mine[:3]], X[mine[3:]]
        query = combine_embeddings(three)
        assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-5)
        # the mean of unit vectors is no longer than 1: its cosines are the photos' mean cosine or more
        assert np.all(others @ query >= (others @ three.T).mean(axis=1) - 1e-6)
        top = CosineScorer(X[np.setdiff1d(np.arange(len(X)), mine[:3])]).row_scores(query)
        assert np.isfinite(top).all()


def test_batch_combination_equals_one_at_a_time(demo):
    X = np.asarray(demo.embeddings, np.float32)
    sets = np.arange(12).reshape(4, 3)
    np.testing.assert_allclose(combine_batch(X[sets]), [combine_embeddings(X[s]) for s in sets], atol=1e-6)


def test_bad_sets_are_refused(demo):
    X = np.asarray(demo.embeddings, np.float32)
    with pytest.raises(ValueError, match=f"combine 1 to {MAX_PHOTOS}"):
        combine_embeddings(X[:MAX_PHOTOS + 1])
    with pytest.raises(ValueError, match="combine 1 to"):
        combine_embeddings(X[:0])
    with pytest.raises(ValueError, match="cancel out"):
        combine_embeddings(np.stack([X[0], -X[0]]))


def _match(identity: str, raw: float) -> Match:
    return Match(identity=identity, row=0, cosine=raw, score=raw, raw=raw)


def test_certainty_by_hand():
    assert margin([_match("a", 0.8), _match("b", 0.7)]) == pytest.approx(0.1)
    assert certainty([_match("a", 0.8), _match("b", 0.7)], 0.05) == Certainty("clear", pytest.approx(0.1))
    close = certainty([_match("a", 0.8), _match("b", 0.79)], 0.05)
    assert close.level == "close_call" and close.as_dict() == {"level": "close_call", "margin": 0.01}
    assert certainty([_match("a", 0.8)], 0.05) == Certainty("clear", None)
    assert certainty([], 0.05) is None
    assert certainty([_match("a", 0.9), _match("b", 0.1)], None).level == "close_call"  # never clear


def test_clear_margin_per_number_of_photos():
    setting = {"1": None, "2": 0.12, "3": 0.1}
    assert clear_margin(setting, 1) is None and clear_margin(setting, 3) == 0.1
    assert clear_margin({1: 0.2}, 1) == 0.2 and clear_margin(0.07, 2) == 0.07 and clear_margin(None, 1) is None
    from app.config import DEFAULTS

    served = DEFAULTS["CERTAINTY_CLEAR_MARGIN"]
    assert set(served) == {"1", "2", "3"} and all(clear_margin(served, k) is None or clear_margin(served, k) > 0
                                                  for k in (1, 2, 3))


def test_clear_margin_is_where_answers_above_it_survive_often_enough():
    margins = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    survived = np.array([1, 1, 1, 1, 0, 1, 0, 0, 0, 0], bool)
    # answers at or above 0.4: 5 of 6 survived (0.83); at or above 0.3: 5 of 7 (0.71)
    fit = fit_clear_margin(margins, survived, survival=0.8, min_share=0.1)
    assert fit["clear_margin"] == pytest.approx(0.4) and fit["clear_share"] == pytest.approx(0.6)
    assert fit["clear_survival"] == pytest.approx(5 / 6) and fit["close_call_survival"] == 0.0
    never = fit_clear_margin(margins, np.zeros(10, bool))
    assert np.isnan(never["clear_margin"]) and never["clear_share"] == 0.0


def test_certainty_of_real_answers(demo):
    X, labels = np.asarray(demo.embeddings, np.float32), np.asarray(demo.labels)
    scorer = CosineScorer(X[1:])
    answer = scorer.rank(X[0], labels[1:], demo.identities, 5, Aggregation())
    c = certainty(answer, 0.05)
    assert c.margin == pytest.approx(answer[0].raw - answer[1].raw) and c.margin >= 0
    assert c.level == ("clear" if c.margin >= 0.05 else "close_call")
