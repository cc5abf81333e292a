"""A trained model's networks exported to ONNX serve without TensorFlow, and answer as the Keras ones do.

Models are trained for real on the demo gallery's FaceNet embeddings (a copy of it, in a tmp folder);
the ONNX side runs in a subprocess where tensorflow, keras and the other build-only modules cannot be
imported (None in sys.modules, as tests/test_serving_install.py does).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from trained_answers import KINDS, answers

from app.cli.common import BUILD_ONLY_MODULES
from app.pipeline.errors import StartupError
from app.pipeline.networks.checksums import read_checksums
from app.pipeline.networks.install import export_version
from app.pipeline.networks.trained_install import MAX_TRAINED_DIFF, check_trained, install_trained_onnx
from app.pipeline.networks.trained_runtime import KerasTrainedNetworks, load_keras_networks, load_trained_networks
from conftest import ROOT, require_setup, val_photos
from models.trained_export import TRAINED_EXPORT_VERSION, TRAINED_FILES

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO_GALLERY = os.path.join(ROOT, "instance", "galleries", "demo")
PROBE = """
import json, sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
sys.path.insert(0, sys.argv[2])
from trained_answers import answers
print(json.dumps(answers(json.loads(sys.argv[3]), sys.argv[4] or None)))
"""
FETCH = "flask weights fetch"


def without_tensorflow(overrides: dict, photo: str = "") -> dict:
    """answers() in a fresh interpreter where TensorFlow, Keras and the other build-only modules are unimportable."""
    out = subprocess.run([sys.executable, "-c", PROBE, ",".join(sorted(BUILD_ONLY_MODULES)), HERE,
                          json.dumps(overrides), photo], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def train_model(root, gallery, name: str, combiner: str) -> str:
    """A real short training on the demo embeddings (the encoder moves off cosine), saved with its calibration
    and exported as `flask train` does."""
    from app.evaluation.gallery_training import validation_calibration
    from models.train_config import TrainConfig
    from models.train_loop import save_model, train

    X, names = np.asarray(gallery.embeddings, np.float32), gallery.row_names
    config = TrainConfig(epochs=6, batch_identities=2, photos_per_identity=4, distractors_per_batch=0,
                         val_fraction=0.4, val_pairs=200, patience=6, seed=1, combiner=combiner)
    result = train(X, names, config, progress=False)
    assert result.best_epoch > 0  # a trained encoder, not the cosine it starts from
    out = save_model(result, root / "models" / name)
    meta = json.loads((out / "config.json").read_text())
    meta.update(gallery="demo", calibration=validation_calibration(result, X, names, config).to_dict())
    (out / "config.json").write_text(json.dumps(meta))
    install_trained_onnx(str(out), X[np.isin(names, result.val_identities)],
                         KerasTrainedNetworks(result.encoder, result.similarity, meta))
    return str(out)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tmp instance: a copy of the demo gallery and two models trained on it (absprod and concat combiners)."""
    require_setup()
    from app.pipeline.galleries.reader import Gallery

    root = tmp_path_factory.mktemp("trained")
    shutil.copytree(DEMO_GALLERY, root / "galleries" / "demo", ignore=shutil.ignore_patterns("encoded-*"))
    gallery = Gallery.load(str(root / "galleries" / "demo"))
    models = {combiner: train_model(root, gallery, combiner, combiner) for combiner in ("absprod", "concat")}
    dirs = {"GALLERY": "demo", "GALLERIES_DIR": str(root / "galleries"), "MODELS_DIR": str(root / "models")}
    return SimpleNamespace(root=root, gallery=gallery, models=models, dirs=dirs)


def cache_of(trained, model: str):
    return trained.root / "galleries" / "demo" / f"encoded-{model}.npy"


def assert_same_answers(onnx: dict, keras: dict) -> None:
    """Scores within 1e-5, the same top-5 identities, the same scorer."""
    for kind in KINDS:
        a, b = onnx[kind], keras[kind]
        assert (a["runtime"], b["runtime"]) == ("onnx", "tf") and a["scorer"] == b["scorer"]
        np.testing.assert_allclose(a["row_scores"], b["row_scores"], rtol=0, atol=1e-5)
        np.testing.assert_allclose(a["pair_distances"], b["pair_distances"], rtol=0, atol=1e-5)
        np.testing.assert_allclose(a["encoded"], b["encoded"], rtol=0, atol=1e-5)
        assert a["top5"] == b["top5"]
        np.testing.assert_allclose(a["top5_scores"], b["top5_scores"], rtol=0, atol=1e-5)


def test_flask_train_exports_both_networks_checked_against_keras(make_app, trained):
    app = make_app(EAGER_LOAD=False, **trained.dirs)
    result = app.test_cli_runner().invoke(args=["train", "--gallery", "demo", "--epochs", "1", "--out", "cli",
                                                "--test-fraction", "0"])
    assert result.exit_code == 0, result.output
    assert "ONNX export (served without TensorFlow): checked against Keras on " in result.output
    model = trained.root / "models" / "cli"
    sums = read_checksums(str(model))
    for name in TRAINED_FILES:
        assert (model / name).stat().st_size > 0
        assert sums[name] == hashlib.sha256((model / name).read_bytes()).hexdigest()
    assert export_version(str(model / "encoder.onnx")) == export_version(str(model / "similarity.onnx")) == \
        TRAINED_EXPORT_VERSION
    report = json.loads((model / "config.json").read_text())["onnx_export"]
    assert report["rows"] >= 2 and report["pairs"] == report["rows"] * (report["rows"] - 1) // 2
    assert max(report["max_encoder_diff"], report["max_similarity_diff"], report["max_dense_diff"]) <= MAX_TRAINED_DIFF
    assert report["versions"]["export_version"] == str(TRAINED_EXPORT_VERSION) and report["versions"]["tf2onnx"]


@pytest.mark.parametrize("combiner", ["absprod", "concat"])
def test_served_without_tensorflow_it_answers_as_keras(trained, combiner):
    overrides = dict(trained.dirs, MATCH_MODEL=combiner)
    keras = answers(dict(overrides, RUNTIME="tf"))
    keras_cache = np.load(cache_of(trained, combiner))
    cache_of(trained, combiner).unlink()  # the served side encodes the gallery itself
    onnx = without_tensorflow(dict(overrides, RUNTIME="onnx"), val_photos()[0][1])
    assert onnx["loaded"] == [] and keras["loaded"] == ["keras", "tensorflow"]
    assert_same_answers(onnx, keras)
    served_cache = np.load(cache_of(trained, combiner))
    assert served_cache.dtype == keras_cache.dtype and served_cache.shape == keras_cache.shape
    np.testing.assert_allclose(served_cache, keras_cache, rtol=0, atol=1e-5)
    for kind in KINDS:
        status, scorer, _ = onnx[kind]["api"]
        assert status == 200 and scorer == onnx[kind]["scorer"]


def test_a_model_without_its_export_is_refused_without_tensorflow_and_exported_where_it_is(make_app, trained):
    old = trained.root / "models" / "old"
    shutil.copytree(trained.models["absprod"], old)
    for name in [*TRAINED_FILES, "SHA256SUMS"]:
        (old / name).unlink()
    overrides = dict(trained.dirs, MATCH_MODEL="old")
    refused = without_tensorflow(dict(overrides, RUNTIME="auto"))["error"]
    assert f"Model 'old' in {old} has no ONNX export" in refused and f"Run `{FETCH}` once" in refused
    assert "pip install -r requirements/build.txt" in refused and "module 'keras' is not installed here" in refused
    with pytest.raises(StartupError, match=f"RUNTIME=onnx serves only exported models. Run `{FETCH}` once"):
        load_trained_networks(str(old), "onnx")
    assert answers(dict(overrides, RUNTIME="auto"))["network"]["runtime"] == "tf"  # with TensorFlow: Keras serves

    app = make_app(EAGER_LOAD=False, **trained.dirs)
    result = app.test_cli_runner().invoke(args=["weights", "fetch"])
    assert result.exit_code == 0, result.output
    assert "model old: exporting to ONNX (no encoder.onnx, similarity.onnx, similarity_dense.npz), checking it " \
           "against Keras on " in result.output and "validation rows of demo" in result.output
    assert "model absprod: ONNX export already installed" in result.output
    assert set(TRAINED_FILES) <= set(read_checksums(str(old)))
    keras = answers(dict(overrides, RUNTIME="tf"))
    cache_of(trained, "old").unlink()
    assert_same_answers(without_tensorflow(dict(overrides, RUNTIME="auto")), keras)


def test_a_damaged_export_is_refused_with_the_command_that_replaces_it(trained, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(trained.models["concat"], model)
    data = bytearray((model / "similarity_dense.npz").read_bytes())
    data[len(data) // 2] ^= 0x10
    (model / "similarity_dense.npz").write_bytes(bytes(data))
    with pytest.raises(StartupError, match=r"similarity_dense.npz is corrupt.*Run `flask weights fetch --force`"):
        load_trained_networks(str(model), "auto")


def test_an_export_that_differs_from_keras_is_not_installed(trained, tmp_path):
    reference = load_keras_networks(trained.models["absprod"])
    rows = np.asarray(trained.gallery.embeddings[:20], np.float32)
    assert check_trained(trained.models["absprod"], rows, reference).problems == []
    dense = reference.keras_similarity.get_layer("sim_dense_1")
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel + 1e-3, bias])  # another model than the files hold
    problems = check_trained(trained.models["absprod"], rows, reference).problems
    assert len(problems) == 2 and all("differ from Keras by" in p for p in problems)
