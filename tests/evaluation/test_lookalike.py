"""The look-alike protocol: hubs, several-photo stability, certainty and `flask evaluate --protocol lookalike`."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from app.evaluation.hubs import capped, hub_count, hub_measures, random_hub_share
from app.evaluation.lookalike import held_out_visitors, lookalike_report, parse_scoring, pooled_report, served_scores
from app.evaluation.stability import photo_sets, set_stability, stability
from app.pipeline.scoring.scorers import Aggregation, CosineScorer
from conftest import DEMO


def test_hub_share_counts_the_top_percent_with_ten_photos_a_visitor_at_most():
    # visitor 0 has 15 photos all answered by identity 7; only 10 count
    top1 = np.r_[np.full(15, 7), np.arange(20)]
    groups = np.r_[np.zeros(15, int), np.arange(1, 21)]
    assert capped(groups, 10).sum() == 30
    h = hub_measures(top1, groups, n_gallery=200)
    assert h["hubs"] == hub_count(200) == 2 and h["answers"] == 30
    assert h["hub_share"] == pytest.approx((11 + 1) / 30)  # identity 7: 10 counted + 1 of another visitor; then a 1
    assert h["most_frequent_share"] == pytest.approx(11 / 30) and h["distinct_top1"] == 20
    assert h["top_hubs"][0] == {"identity": 7, "top1": 11, "share": pytest.approx(11 / 30)}
    assert hub_count(4655) == 46  # the 1% of 4,655 people


def test_random_reference_is_near_a_fair_spread():
    # 3,036 answers over 4,655 identities: the random spread is about 7% for 46 hubs
    assert 0.05 < random_hub_share(3036, 4655, 46, draws=50) < 0.08


def test_stability_keeps_its_pair_counts():
    top = np.array([[1, 2, 3, 4, 5], [1, 2, 3, 9, 8], [7, 6, 5, 4, 3], [0, 1, 2, 3, 4], [9, 8, 7, 6, 5]])
    result = stability(top, np.array([0, 0, 0, 1, 1]))
    assert result["visitors"] == 2 and result["pairs"] == 4 and result["distinct_top1"] == 4
    assert result["hub_share"] == pytest.approx(0.4)  # 4 distinct answers: 1 hub, identity 1 with 2 of 5


def test_photo_sets_are_disjoint_and_per_visitor():
    groups = np.array(["a"] * 7 + ["b"] * 3 + ["c"] * 4)
    a, b, owner = photo_sets(groups, 2, draws=3, seed=1)
    assert sorted(set(owner)) == ["a", "c"] and len(owner) == 6  # b has 3 < 2k photos
    for x, y, who in zip(a, b, owner):
        assert not set(x) & set(y) and set(groups[np.r_[x, y]]) == {who}
    same = set_stability(np.array([[1, 2], [3, 4]]), np.array([[1, 9], [4, 3]]), np.array(["a", "a"]))
    assert same["top1_agreement"] == 0.5 and same["top5_overlap"] == pytest.approx((1 / 2 + 2 / 2) / 2)


def test_held_out_visitors_leave_the_gallery():
    names = np.repeat([f"p{k}" for k in range(50)], 3)
    gallery, visitors = held_out_visitors(names, seed=0)
    assert len(set(names[visitors])) == 10 and not set(names[visitors]) & set(names[gallery])
    assert len(gallery) + len(visitors) == len(names)
    again, _ = held_out_visitors(names, seed=0)
    assert np.array_equal(gallery, again)
    folds = [set(names[held_out_visitors(names, 0, fold=f)[1]]) for f in range(5)]
    assert set().union(*folds) == set(names) and sum(map(len, folds)) == 50  # every person a visitor once


def test_report_on_real_embeddings(engine):
    g = engine.gallery
    X, names = np.asarray(g.embeddings, np.float32), g.row_names
    gallery_rows, probes = held_out_visitors(names, 0, fraction=0.4)
    identities, labels = np.unique(names[gallery_rows], return_inverse=True)
    for text in ("max", "centroid+znorm"):
        score = served_scores(X[gallery_rows], labels, len(identities), *parse_scoring(text))
        report = lookalike_report(score, X[probes], names[probes], len(identities), np.bincount(labels), identities)
        assert report["visitors"] == 2 and report["gallery_identities"] == 3
        assert set(report["stability"]) == set(report["certainty"]) == {1, 2, 3}
        assert all(0 <= s["top1_agreement"] <= 1 and s["visitors"] == 2 for s in report["stability"].values())
        assert report["hubs"]["answers"] == min(10, (names[probes] == names[probes][0]).sum()) + \
            min(10, (names[probes] == names[probes][-1]).sum())
        assert sum(h["top1"] for h in report["hubs"]["top_hubs"]) == report["hubs"]["answers"]
        assert report["hubs"]["hub_share"] >= report["hubs"]["hub_share_random"] - 0.2
        twice = pooled_report([report, report])  # the same fold twice: same rates, twice the counts
        assert twice["visitors"] == 4 and twice["hubs"]["answers"] == 2 * report["hubs"]["answers"]
        assert twice["stability"][1]["top1_agreement"] == pytest.approx(report["stability"][1]["top1_agreement"])
        assert twice["hubs"]["top_hubs"][0]["top1"] == 2 * report["hubs"]["top_hubs"][0]["top1"]
    # the served ranking of one visitor photo, as the batch scoring ranks it
    first = CosineScorer(X[gallery_rows]).rank(X[probes[0]], labels, list(identities), 3, Aggregation())
    batch = served_scores(X[gallery_rows], labels, len(identities), Aggregation())(X[probes[:1]])[0]
    assert [m.label for m in first] == np.argsort(-batch).tolist()


def test_evaluate_lookalike_command(runner, tmp_path):
    result = runner.invoke(args=["evaluate", "--gallery", "demo", "--protocol", "lookalike", "--visitor-fraction",
                                 "0.4", "--scoring", "max", "--scoring", "max+znorm", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "gallery demo: 3 identities" in result.output and "CERTAINTY_CLEAR_MARGIN = {" in result.output
    rows = [line.split()[0] for line in result.output.splitlines()[2:4]]
    assert rows == ["max", "max+znorm"]
    for f in ("report.json", "top1.png", "stability.png"):
        assert (tmp_path / f).stat().st_size > 0
    pooled = runner.invoke(args=["evaluate", "--gallery", "demo", "--protocol", "lookalike", "--visitor-fraction",
                                 "0.2", "--folds", "5", "--json", "--out", str(tmp_path)])
    assert pooled.exit_code == 0, pooled.output
    report = json.loads(pooled.output[pooled.output.index("{"):])
    assert report["folds"] == 5 and report["scorings"]["centroid"]["visitors"] == 5  # each demo person once
    bad = runner.invoke(args=["evaluate", "--gallery", "demo", "--protocol", "lookalike", "--scoring", "max+softmax",
                              "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "unknown hub correction" in bad.output


def test_evaluate_lookalike_with_visitor_folders(runner, tmp_path):
    folder = os.path.join(DEMO, "val", "ben_afflek")
    result = runner.invoke(args=["evaluate", "--gallery", "demo", "--protocol", "lookalike", "--visitors", folder,
                                 "--json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["visitors_in_gallery_removed"] == 1 and report["visitors_from"] == [folder]
    look = report["scorings"]["centroid"]
    assert look["visitors"] == 1 and look["gallery_identities"] == 4 and look["photos"] >= 4
    assert "ben_afflek" not in [h["identity"] for h in look["hubs"]["top_hubs"]]
