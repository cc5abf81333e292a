"""Per-celebrity normalisation (HUB_CORRECTION) on the demo gallery's real FaceNet rows."""

from __future__ import annotations

import base64
import os

import numpy as np
import pytest

from app.config import DEFAULTS
from app.evaluation.synthetic import synthetic_rows, unit, write_synthetic
from app.pipeline.galleries.rows import RowFile
from app.pipeline.galleries.vector_index import PQIndex
from app.pipeline.scoring.identity_norm import (
    NORM_FILE,
    IdentityNorm,
    build_references,
    fit_identity_norm,
    gallery_norm,
)
from app.pipeline.scoring.scorers import (
    Aggregation,
    CosineScorer,
    IndexedCosineScorer,
    aggregate_by_identity,
    identity_scale,
)
from conftest import ROOT, read, require_setup, val_photos


@pytest.fixture(scope="module")
def demo():
    """The built demo gallery (86 faces of 5 people), memory-mapped."""
    require_setup()
    from app.pipeline.galleries.reader import Gallery

    return Gallery.load(os.path.join(ROOT, "instance", "galleries", "demo"))


def _rows(demo):
    return np.asarray(demo.embeddings, np.float32), np.asarray(demo.labels), len(demo.identities)


@pytest.mark.parametrize("method", ["max", "mean_n", "centroid"])
def test_statistics_are_each_identitys_scores_over_the_stand_ins(demo, method):
    X, labels, n = _rows(demo)
    aggregation = Aggregation(method, 3)
    norm = fit_identity_norm(X, labels, n, aggregation, sample=len(X))  # every photo a stand-in
    by_hand = [[] for _ in range(n)]
    scale = identity_scale(X, labels)
    for row in range(len(X)):
        agg, _ = aggregate_by_identity((X @ X[row]).astype(np.float64), labels, n, aggregation,
                                       scale if method == "centroid" else None)
        for identity in range(n):
            if identity != labels[row]:  # a stand-in is never scored against its own identity
                by_hand[identity].append(agg[identity])
    np.testing.assert_allclose(norm.mean, [np.mean(v) for v in by_hand], atol=1e-5)
    np.testing.assert_allclose(norm.std, [np.std(v) for v in by_hand], atol=1e-5)
    assert norm.level == pytest.approx(np.mean(norm.mean)) and norm.spread == pytest.approx(np.mean(norm.std))
    assert norm.settings == {"method": "znorm", "aggregate": method, "mean_n": 3, "stand_ins": len(X)}


def test_a_score_at_an_identitys_stand_in_mean_becomes_the_gallery_level(demo):
    X, labels, n = _rows(demo)
    norm = fit_identity_norm(X, labels, n, Aggregation())
    ids = np.arange(n)
    np.testing.assert_allclose(norm.apply(norm.mean, ids), norm.level)
    np.testing.assert_allclose(norm.apply(norm.mean + norm.std, ids), norm.level + norm.spread)
    assert norm.apply(np.array([-np.inf]), ids[:1])[0] == -np.inf


@pytest.mark.parametrize("method", ["max", "mean_n", "centroid"])
def test_served_ranking_equals_normalising_every_identity(demo, method):
    X, labels, n = _rows(demo)
    aggregation = Aggregation(method, 3)
    norm = fit_identity_norm(X, labels, n, aggregation)
    scorer = CosineScorer(X)
    scale = identity_scale(X, labels) if method == "centroid" else None
    changed = 0
    for q in X[::3]:
        agg, _ = aggregate_by_identity(scorer.row_scores(q), labels, n, aggregation, scale)
        want = np.argsort(-norm.apply(agg, np.arange(n)), kind="stable")
        got = scorer.rank(q, labels, demo.identities, n, aggregation, norm=norm)
        assert [m.label for m in got] == want.tolist()
        assert got[0].raw == pytest.approx(norm.apply(agg, np.arange(n))[want[0]])
        changed += [m.label for m in scorer.rank(q, labels, demo.identities, n, aggregation)] != want.tolist()
    assert changed > 0  # the normalisation does reorder some answers


def test_stored_normalisation_is_used_when_its_settings_match(demo, tmp_path):
    X, labels, n = _rows(demo)
    config = {"SCORE_AGGREGATE": "max", "SCORE_MEAN_N": 3, "HUB_CORRECTION": "znorm"}
    reference, entry = build_references(str(tmp_path), X, labels, n, config, sample=50)
    assert entry["hub_correction"] == "znorm" and entry["reference_scores"] == len(reference) == 50
    stored = IdentityNorm.load(str(tmp_path / NORM_FILE))
    np.testing.assert_array_equal(stored.mean, fit_identity_norm(X, labels, n, Aggregation()).mean)
    # stored: read back, not refitted (a marked copy tells them apart)
    marked = IdentityNorm(stored.mean + 1, stored.std, stored.level, stored.spread, stored.settings)
    marked.save(str(tmp_path / NORM_FILE))
    used = gallery_norm(str(tmp_path), X, labels, n, Aggregation(), "znorm")
    np.testing.assert_allclose(used.mean, stored.mean + 1)
    other = gallery_norm(str(tmp_path), X, labels, n, Aggregation("centroid"), "znorm")  # other settings: refitted
    assert other.settings["aggregate"] == "centroid"
    assert gallery_norm(str(tmp_path), X, labels, n, Aggregation(), "none") is None
    _, plain = build_references(str(tmp_path / "plain"), X, labels, n, {**config, "HUB_CORRECTION": "none"}, 50)
    assert plain["hub_correction"] == "none" and not os.path.exists(tmp_path / "plain" / NORM_FILE)


def test_engine_serves_normalised_answers(make_app):
    from app.extensions import get_engine
    from app.pipeline.errors import StartupError

    app = make_app(HUB_CORRECTION="znorm", SCORE_AGGREGATE="max")
    with app.app_context():
        engine = get_engine()
        result = engine.match(read(val_photos()[0][1]), top_k=5)
        norm = engine.identity_norm
        gallery = engine.gallery
        agg, _ = aggregate_by_identity(CosineScorer(gallery.embeddings).row_scores(result.query.embedding),
                                       gallery.labels, len(gallery.identities), Aggregation())
        want = norm.apply(agg, np.arange(len(agg)))
        assert [m.label for m in result.matches] == np.argsort(-want, kind="stable").tolist()
        assert all(0 <= m.resemblance <= 100 for m in result.matches)
    with pytest.raises(StartupError, match="HUB_CORRECTION must be one of none, znorm"):
        make_app(HUB_CORRECTION="softmax")


def test_indexed_gallery_serves_the_stored_normalisation(demo, make_app, tmp_path):
    """The large-gallery path: the build stores the normalisation, the index's shortlist is ranked with it."""
    config = {**DEFAULTS, "HUB_CORRECTION": "znorm", "SCORE_AGGREGATE": "centroid"}
    gallery = write_synthetic(demo, str(tmp_path), "synth", 1500, config, seed=2, index=True)
    assert gallery.manifest["resemblance"]["hub_correction"] == "znorm"
    assert os.path.isfile(os.path.join(gallery.path, NORM_FILE))
    X, labels, n = np.asarray(gallery.embeddings), np.asarray(gallery.labels), len(gallery.identities)
    norm = gallery_norm(gallery.path, gallery.embeddings, labels, n, Aggregation("centroid"), "znorm")
    assert norm.settings["stand_ins"] == len(X)  # fewer rows than STAND_INS: every row a stand-in
    exact, indexed = CosineScorer(X), IndexedCosineScorer(RowFile(gallery.embeddings),
                                                          PQIndex(gallery.path, gallery.embeddings, "synth"), 200)
    scale, same = identity_scale(X, labels), 0
    members, _, _ = synthetic_rows(X[:86], 50, seed=5)  # new photos near the real faces
    for q in unit(members):
        agg, _ = aggregate_by_identity(exact.row_scores(q), labels, n, Aggregation("centroid"), scale)
        want = int(np.argmax(norm.apply(agg, np.arange(n))))
        same += indexed.rank(q, labels, gallery.identities, 5, Aggregation("centroid"), norm=norm)[0].label == want
    assert same >= 49
    client = make_app(GALLERIES_DIR=str(tmp_path), GALLERY="synth", INDEX="ann", HUB_CORRECTION="znorm").test_client()
    body = client.post("/api/v1/match", json={"image": base64.b64encode(read(val_photos()[0][1])).decode()}).get_json()
    assert len(body["matches"]) == 5 and client.get("/readyz").get_json()["index"]["kind"] == "pq-fastscan"
