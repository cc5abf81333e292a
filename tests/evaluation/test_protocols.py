"""The three protocols (closed, lookalike, open) on real FaceNet embeddings, and the residual encoder."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from app.evaluation.protocols import closed_split, lookalike_split, make_split, open_split
from app.evaluation.ranking import identity_scores, top_identities, topk_hits
from app.evaluation.runs import make_monitor, run_protocol, table
from app.evaluation.stability import stability
from app.pipeline.photos.embed import l2_normalize
from app.pipeline.scoring.scorers import Aggregation, CosineScorer, aggregate_by_identity, identity_scale
from models.train_config import TrainConfig

QUICK = TrainConfig(epochs=2, patience=2, batch_identities=8, val_pairs=200)


def _gallery(engine):
    """(embeddings, labels, identities) of the demo gallery: real FaceNet rows."""
    g = engine.gallery
    return np.asarray(g.embeddings, np.float32), np.asarray(g.labels), list(g.identities)


@pytest.mark.parametrize("method", ["max", "mean_n", "centroid"])
def test_offline_aggregation_matches_the_served_one(engine, method):
    X, labels, ids = _gallery(engine)
    agg = Aggregation(method, 3)
    offline = identity_scores(X, X, labels, len(ids), agg, exclude=np.arange(len(X)))
    scale = identity_scale(X, labels)
    for row in range(0, len(X), 7):
        sims = X @ X[row]
        sims[row] = -np.inf
        served, _ = aggregate_by_identity(sims.astype(np.float64), labels, len(ids), agg,
                                          scale=None if method != "centroid" else scale)
        if method == "centroid":  # offline leaves the probe out of its own identity's centroid: checked by hand
            others = np.flatnonzero(labels == labels[row])
            others = others[others != row]
            own = float(l2_normalize(X[others].sum(axis=0)) @ X[row]) if len(others) else -np.inf
            np.testing.assert_allclose(offline[row, labels[row]], own, rtol=1e-5, atol=1e-6)
            served[labels[row]] = own  # the served scale is the whole identity's
        np.testing.assert_allclose(offline[row], served, rtol=1e-5, atol=1e-6)


def test_served_centroid_ranking_is_the_centroid_cosine(engine):
    X, labels, ids = _gallery(engine)
    scorer = CosineScorer(X)
    offline = identity_scores(X[:20], X, labels, len(ids), Aggregation("centroid"))
    for q, want in zip(X[:20], offline):
        got = scorer.rank(q, labels, ids, 5, Aggregation("centroid"))
        assert [m.label for m in got] == list(np.argsort(-want)[:5])
        np.testing.assert_allclose([m.raw for m in got], np.sort(want)[::-1][:5], rtol=1e-5)


def test_residual_encoder_at_initialization_reproduces_cosine_rankings_exactly(engine):
    from app.pipeline.networks.trained_runtime import KerasTrainedNetworks
    from app.pipeline.scoring.learned_scorers import EncodedCosineScorer
    from models.encoder import build_encoder, encode

    X, labels, ids = _gallery(engine)
    encoder = build_encoder(128, hidden_layers=2, width=64, residual=True)
    Z = encode(encoder, X)
    np.testing.assert_allclose(Z, X, atol=1e-6)
    cosine, learned = CosineScorer(X), EncodedCosineScorer(KerasTrainedNetworks(encoder), X, Z)
    for method in ("max", "mean_n", "centroid"):
        for q in X:
            want = cosine.rank(q, labels, ids, 5, Aggregation(method))
            got = learned.rank(q, labels, ids, 5, Aggregation(method))
            assert [m.identity for m in got] == [m.identity for m in want]


def test_stability_counts_agreement_and_overlap_per_visitor():
    top = np.array([[1, 2, 3, 4, 5], [1, 2, 3, 9, 8], [7, 6, 5, 4, 3], [0, 1, 2, 3, 4], [9, 8, 7, 6, 5]])
    result = stability(top, np.array([0, 0, 0, 1, 1]))
    # visitor 0: pairs (0,1) agree, overlap 3/5; (0,2), (1,2) disagree, overlaps 3/5 and 1/5
    assert result["visitors"] == 2 and result["pairs"] == 4
    assert result["top1_agreement"] == pytest.approx((1 / 3 + 0) / 2)
    assert result["top5_overlap"] == pytest.approx(((3 + 3 + 1) / 15 + 0) / 2)
    assert result["distinct_top1"] == 4 and result["hub_share"] == pytest.approx(0.4)


def _names(lfw_small):
    """Embeddings and row names of the small real LFW gallery."""
    from app.pipeline.galleries.reader import Gallery

    g = Gallery.load(str(lfw_small / "galleries" / "lfwsmall"))
    return np.asarray(g.embeddings, np.float32), g.row_names


def test_splits_keep_probes_out_of_training(lfw_small):
    X, names = _names(lfw_small)
    closed = closed_split(names, 0)
    assert not set(closed.probe_rows) & set(closed.gallery_rows)
    assert set(names[closed.probe_rows]) <= set(names[closed.gallery_rows])  # closed: probed people are known
    assert not set(closed.probe_rows) & set(closed.fit_rows) and not set(closed.monitor_probes) & set(closed.fit_rows)
    look = lookalike_split(names, 0)
    assert not set(names[look.probe_rows]) & set(names[look.gallery_rows])  # visitors are not in the gallery
    assert not set(names[look.monitor_probes]) & set(names[look.monitor_gallery])
    assert set(look.val_identities) == set(names[look.monitor_probes])
    opened = open_split(names, 0)
    assert not set(names[opened.probe_rows]) & set(names[opened.fit_rows])
    assert opened.exclude_self and len(opened.gallery_rows) == len(names)
    # Hidden probes are rows of their gallery: scoring hides each one from itself by its position there.
    assert set(opened.monitor_probes) <= set(opened.monitor_gallery)
    stray = dataclasses.replace(opened, monitor_gallery=np.setdiff1d(opened.monitor_gallery, opened.monitor_probes[:1]))
    with pytest.raises(ValueError, match="must be gallery rows"):
        make_monitor(stray, X, np.unique(names, return_inverse=True)[1], len(set(names)), Aggregation())


def test_each_protocol_gives_sane_numbers_on_a_small_real_gallery(lfw_small, tmp_path):
    X, names = _names(lfw_small)
    reports = {p: run_protocol(X, names, make_split(p, names, 0), QUICK, str(tmp_path / p)) for p in
               ("closed", "lookalike", "open")}
    for p in ("closed", "open"):
        cosine = reports[p]["scorers"]["cosine / max"]
        assert cosine["top1"] > 0.85 and cosine["top5"] >= cosine["top1"], (p, cosine)  # FaceNet on LFW
    look = reports["lookalike"]["scorers"]
    assert reports["lookalike"]["probe_identities"] >= 2
    for name, r in look.items():
        assert 0 <= r["top1_agreement"] <= 1 and 0 <= r["top5_overlap"] <= 1 and r["visitors"] >= 2, name
    lines = table(reports)
    assert len(lines) == 1 + 9 and len(lines[0].split("  ")) > 1
    assert [line.split()[0] for line in lines[1:4]] == ["cosine"] * 3
    for p in reports:
        for f in ("report.json", "roc.png", "loss_curve.png"):
            assert (tmp_path / p / f).stat().st_size > 0
    assert (tmp_path / "lookalike" / "stability.png").stat().st_size > 0
    saved = json.loads((tmp_path / "closed" / "report.json").read_text())
    split, y = make_split("closed", names, 0), np.unique(names, return_inverse=True)[1]
    before = identity_scores(X[split.monitor_probes], X[split.monitor_gallery], y[split.monitor_gallery],
                             int(y.max()) + 1, Aggregation("max"))
    assert saved["training"]["monitor_initial"] == pytest.approx(topk_hits(before, y[split.monitor_probes])["top1"])


def test_evaluate_protocol_command_prints_one_table(lfw_app, tmp_path):
    result = lfw_app.test_cli_runner().invoke(args=[
        "evaluate", "--gallery", "lfwsmall", "--protocol", "all", "--epochs", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.startswith("scorer / aggregation"))
    for column in ("closed top-1", "look-alike top-1 agr.", "open top-1"):
        assert column in header
    rows = [line for line in result.output.splitlines() if line.split(" / ")[0] in ("cosine", "encoder", "learned")]
    assert len(rows) == 9 and all(len(r.split()) == 3 + 6 for r in rows)
    assert (tmp_path / "lookalike" / "report.json").is_file()


def test_top_identities_are_best_first():
    scores = np.array([[0.1, 0.9, 0.5, -np.inf], [0.3, 0.2, 0.1, 0.4]], np.float32)
    assert top_identities(scores, 3).tolist() == [[1, 2, 0], [3, 0, 1]]
