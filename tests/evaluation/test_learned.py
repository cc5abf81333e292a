"""Learned matching on real FaceNet embeddings: training, `flask train` / `flask evaluate`, the app."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import read
from models.train_config import TrainConfig
from models.train_loop import train


def test_short_training_on_demo_embeddings_lowers_validation_loss(engine):
    g = engine.gallery
    X = np.asarray(g.embeddings)
    names = np.asarray(g.identities)[g.labels]
    config = TrainConfig(epochs=6, batch_identities=2, photos_per_identity=4, distractors_per_batch=0,
                         val_fraction=0.4, val_pairs=200, patience=6, seed=1)
    result = train(X, names, config, progress=False)
    assert len(set(result.val_identities)) == 2 and not set(result.val_identities) & set(result.train_identities)
    assert result.metrics["val_loss"] < result.initial_val_loss
    assert result.metrics["val_auc"] > 0.8


def test_train_and_evaluate_commands_write_their_reports(lfw_app, lfw_small):
    runner = lfw_app.test_cli_runner()
    result = runner.invoke(args=["train", "--gallery", "lfwsmall", "--loss", "triplet", "--epochs", "4",
                                 "--batch-identities", "8", "--seed", "3", "--out", "small"])
    assert result.exit_code == 0, result.output
    model = lfw_small / "models" / "small"
    meta = json.loads((model / "config.json").read_text())
    for f in ("encoder.weights.h5", "similarity.weights.h5", "loss_curve.png"):
        assert (model / f).stat().st_size > 0
    assert meta["config"]["loss"] == "triplet" and meta["split_seed"] == 3
    assert not set(meta["test_identities"]) & set(meta["val_identities"])
    assert meta["gallery"] == "lfwsmall" and 0 < meta["threshold"] < 1

    out = lfw_small / "report"
    result = runner.invoke(args=["evaluate", "--gallery", "lfwsmall", "--model", "small", "--pairs", "400",
                                 "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report["scorers"]) == {"cosine (FaceNet)", "learned encoder, cosine", "learned (triplet, absprod)"}
    cosine = report["scorers"]["cosine (FaceNet)"]
    assert cosine["top1"] > 0.8 and cosine["auc"] > 0.95  # FaceNet on real LFW faces
    for f in ("report.json", "roc.png", "samples.png"):
        assert (out / f).stat().st_size > 0


def test_evaluate_check_fits_a_calibration(lfw_app):
    result = lfw_app.test_cli_runner().invoke(args=["evaluate-check", "--gallery", "lfwsmall", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["checks"] == 120 and report["genuine"] == 60  # one genuine + one impostor per identity
    assert report["auc"] > 0.97 and report["accuracy"] > 0.9
    assert report["calibration"]["b"] < 0 < report["calibration"]["threshold"] < 2
    assert 0 <= report["ece_cross_fitted"] < 0.2


def test_app_serves_with_the_learned_model(make_app, lfw_small):
    app = make_app(GALLERY="lfwsmall", MATCH_MODEL="small", LEARNED_SCORER="network",
                   GALLERIES_DIR=str(lfw_small / "galleries"),
                   MODELS_DIR=str(lfw_small / "models"))
    client = app.test_client()
    ready = client.get("/readyz").get_json()
    assert ready["scorer"].startswith("learned:small (triplet")
    assert (lfw_small / "galleries" / "lfwsmall" / "encoded-small.npy").is_file()  # cached encodings
    gallery = app.extensions["lookslike"].gallery
    row = next(i for i in range(len(gallery) - 1) if gallery.labels[i] == gallery.labels[i + 1])
    probe = str(gallery.row_metadata()["source"][row])
    body = client.post("/api/v1/match", json={"image": __import__("base64").b64encode(read(probe)).decode()}).get_json()
    assert body["scorer"] == ready["scorer"]
    assert body["matches"][0]["identity"] == gallery.identities[gallery.labels[row]]
    assert all(0 <= m["score"] <= 1 for m in body["matches"])
    page = client.post("/match", data={"photo": (open(probe, "rb"), "p.jpg")}, content_type="multipart/form-data")
    assert "scorer: learned:small" in page.get_data(as_text=True)


def test_unknown_match_model_stops_start_up(make_app, tmp_path):
    from app.pipeline.errors import StartupError

    with pytest.raises(StartupError, match="MATCH_MODEL 'nope'"):
        make_app(MATCH_MODEL="nope", MODELS_DIR=str(tmp_path))


def test_gallery_model_is_served_by_auto_only_when_its_verdict_says_so(make_app, lfw_small):
    dirs = dict(GALLERIES_DIR=str(lfw_small / "galleries"), MODELS_DIR=str(lfw_small / "auto-models"))
    app = make_app(GALLERY="lfwsmall", MATCH_MODEL="auto", **dirs)
    assert app.test_client().get("/readyz").get_json()["scorer"] == "cosine"  # no model yet: cosine
    result = app.test_cli_runner().invoke(args=["train", "--gallery", "lfwsmall", "--epochs", "2",
                                                "--batch-identities", "8"])
    assert result.exit_code == 0, result.output
    assert f"validation ({app.config['SCORE_AGGREGATE']}):" in result.output  # the served aggregation
    assert "MATCH_MODEL=auto serves this model" in result.output
    meta_file = lfw_small / "auto-models" / "lfwsmall" / "config.json"
    meta = json.loads(meta_file.read_text())
    assert meta["test_identities"] == [] and {"cosine", "encoder", "serve"} <= set(meta["validation"])
    cosine = meta["validation"]["cosine"]
    assert 0 <= cosine["top1_agreement"] <= 1 and cosine["top1"] > 0.8 and cosine["open_top1"] > 0.8
    for serve in (True, False):  # the engine follows the verdict flag of the trained model
        meta["validation"]["serve"] = serve
        meta_file.write_text(json.dumps(meta))
        ready = make_app(GALLERY="lfwsmall", MATCH_MODEL="auto", **dirs).test_client().get("/readyz").get_json()
        assert ready["scorer"].startswith("learned:lfwsmall") == serve and (ready["model"] == "lfwsmall") == serve
    off = make_app(GALLERY="lfwsmall", MATCH_MODEL="", **dirs)
    assert off.test_client().get("/readyz").get_json()["scorer"] == "cosine"
