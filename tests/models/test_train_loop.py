"""Training on synthetic clustered embeddings, save/load round trip, and the NumPy metrics."""

import dataclasses
import json

import numpy as np
import pytest

from models.encoder import encode
from models.face_metrics import (
    accuracy_f1_at,
    best_f1_threshold,
    identification_topk,
    make_pairs,
    roc_auc,
    roc_curve,
)
from models.train_config import BatchSampler, TrainConfig, split_identities
from models.train_loop import load_model, save_model, train

DIM = 64


def clustered(n_ids=48, n_singles=12, seed=0):
    """Unit embeddings: identity centre + noise + a strong shared 'nuisance' subspace (pose/light)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_ids + n_singles, DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    counts = np.r_[rng.integers(2, 7, n_ids), np.ones(n_singles, int)]
    labels = np.repeat(np.array([f"person_{i}" for i in range(len(counts))]), counts)
    ids = np.repeat(np.arange(len(counts)), counts)
    nuisance = np.linalg.qr(rng.standard_normal((DIM, 4)))[0].T
    x = centres[ids] + 0.6 * rng.standard_normal((len(ids), DIM)) / np.sqrt(DIM)
    x += 1.2 * rng.standard_normal((len(ids), 4)) @ nuisance
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


CONFIG = TrainConfig(  # the plain (non-residual) encoder: 8 epochs separate these clusters (the residual
    epochs=8, batch_identities=8, photos_per_identity=4, distractors_per_batch=2,  # one reached AUC 0.88)
    val_fraction=0.3, val_pairs=400, patience=3, seed=0, encoder_residual=False,
)


@pytest.fixture(scope="module")
def data():
    return clustered()


@pytest.fixture(scope="module")
def result(data):
    X, labels = data
    return train(X, labels, CONFIG, progress=False)


def test_training_lowers_val_loss_and_separates(result):
    assert min(result.history["val_loss"]) < result.initial_val_loss
    assert result.metrics["val_loss"] == pytest.approx(min(result.history["val_loss"]))
    assert result.metrics["val_auc"] > 0.9
    assert result.metrics["val_auc_encoder_cosine"] > result.metrics["val_auc_input_cosine"]
    assert 0.0 < result.threshold < 1.0
    assert 1 <= result.best_epoch <= len(result.history["val_loss"]) <= CONFIG.epochs
    assert {len(v) for v in result.history.values()} == {len(result.history["val_loss"])}


@pytest.mark.parametrize(
    "loss, combiner", [("triplet", "concat"), ("triplet-semihard", "chi2"), ("contrastive", "absprod")]
)
def test_other_losses_and_combiners_train(data, loss, combiner):
    X, labels = data
    config = dataclasses.replace(CONFIG, loss=loss, combiner=combiner, epochs=3)
    res = train(X, labels, config, progress=False)
    assert np.all(np.isfinite(res.history["train_loss"] + res.history["val_loss"]))
    assert min(res.history["val_loss"]) < res.initial_val_loss


def test_split_is_identity_disjoint(result, data):
    _, labels = data
    train_ids, val_ids = set(result.train_identities), set(result.val_identities)
    assert not train_ids & val_ids and train_ids | val_ids == set(labels.tolist())
    again = split_identities(labels, CONFIG.val_fraction, CONFIG.seed)
    assert set(again[1].tolist()) == val_ids  # reproducible from the seed


@pytest.mark.parametrize("shape", [{"encoder_residual": False}, {"encoder_hidden_layers": 2}, {"encoder_width": 64}])
def test_wccn_start_is_refused_for_an_encoder_it_cannot_set(shape):
    with pytest.raises(ValueError, match="wccn .*one layer of width 128"):
        TrainConfig(encoder_init="wccn", **shape)
    TrainConfig(encoder_init="identity", **shape)  # any shape starts at cosine


def test_batches_are_balanced_with_replacement_for_small_identities():
    ids = np.r_[np.repeat(np.arange(5), [2, 3, 6, 2, 5]), [10, 11, 12]]  # 3 single-photo identities
    rows = np.arange(len(ids)) + 100
    sampler = BatchSampler(ids, rows, P=4, K=4, D=2, rng=np.random.default_rng(0))
    for _ in range(20):
        batch = sampler.batch()
        assert len(batch) == sampler.batch_size == 18
        b_ids = ids[batch - 100]
        per_id = np.unique(b_ids[:16], return_counts=True)
        assert len(per_id[0]) == 4 and set(per_id[1]) == {4}
        assert set(b_ids[16:]) <= {10, 11, 12} and len(set(b_ids[16:])) == 2


def test_save_load_round_trip(result, data, tmp_path):
    X, _ = data
    save_model(result, tmp_path)
    png = tmp_path / "loss_curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads((tmp_path / "config.json").read_text())
    assert meta["config"]["loss"] == CONFIG.loss and meta["split_seed"] == CONFIG.seed
    assert meta["threshold"] == pytest.approx(result.threshold)
    assert sorted(meta["val_identities"]) == sorted(result.val_identities)
    assert TrainConfig.from_dict(meta["config"]) == CONFIG
    encoder, similarity, _ = load_model(tmp_path)
    z_old, z_new = encode(result.encoder, X), encode(encoder, X)
    np.testing.assert_array_equal(z_old, z_new)
    s_old = np.asarray(result.similarity([z_old[:50], z_old[50:100]]))
    np.testing.assert_array_equal(s_old, np.asarray(similarity([z_new[:50], z_new[50:100]])))


def test_roc_auc_and_curve_hand_values():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    same = np.array([1, 0, 1, 0, 0])
    # positives beat negatives in 5 of 6 (pos, neg) pairs
    assert roc_auc(scores, same) == pytest.approx(5 / 6)
    assert roc_auc(np.array([0.5, 0.5]), np.array([1, 0])) == pytest.approx(0.5)  # tie counts 1/2
    fpr, tpr, thr = roc_curve(scores, same)
    np.testing.assert_allclose(fpr, [0, 0, 1 / 3, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1, 1])
    assert np.isinf(thr[0])


def test_best_f1_threshold_and_accuracy():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    same = np.array([1, 0, 1, 0, 0])
    thr, f1 = best_f1_threshold(scores, same)
    assert thr == pytest.approx(0.65) and f1 == pytest.approx(0.8)  # TP=2, FP=1, FN=0
    acc, f1_at = accuracy_f1_at(scores, same, thr)
    assert acc == pytest.approx(0.8) and f1_at == pytest.approx(0.8)


def test_make_pairs_balanced_and_valid():
    labels = np.array(["a", "a", "a", "b", "b", "c", "d"])
    i, j, same = make_pairs(labels, 101, seed=0)
    assert len(i) == 101 and same.sum() == 50
    assert np.all((labels[i] == labels[j]) == same) and np.all(i[same] != j[same])


def test_identification_topk_distinct_identities_best_photo():
    gallery = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.7, 0.7]], np.float32)
    g_labels = np.array(["x", "x", "y", "z"])
    probes = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    res = identification_topk(probes, ["x", "y"], gallery, g_labels, lambda q, G: G @ q, ks=(1, 2),
                              exclude=np.array([0, -1]))
    # probe 0 (its own row hidden): x via row 1 scores .9 > z .7 -> rank 1. probe 1: y 1.0 -> rank 1
    assert res["top1"] == 1.0 and res["top2"] == 1.0 and res["n_probes"] == 2
    res = identification_topk(probes[:1], ["z"], gallery, g_labels, lambda q, G: G @ q, ks=(1, 2))
    assert res["top1"] == 0.0 and res["top2"] == 1.0  # x (1.0) beats z (0.7); duplicate x row ignored
