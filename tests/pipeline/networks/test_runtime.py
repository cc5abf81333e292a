"""The ONNX runtime against the TensorFlow reference, on real photos: same faces, same embeddings."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from app.config import DEFAULTS
from app.pipeline.networks.install import MAX_BOX_PX, MAX_EMBED_DIFF, check_conversion
from app.pipeline.networks.runtime import NETWORK_NAMES, onnx_path
from app.pipeline.photos.analysis import decode
from app.pipeline.photos.detect import Detector
from conftest import ROOT, png_bytes, read, require_setup, val_photos

WEIGHTS = os.path.join(ROOT, "instance", "weights")


@pytest.fixture(scope="module")
def config():
    """The app's configuration with the ONNX runtime."""
    from app import create_app

    return dict(create_app({"TESTING": True, "GALLERY": "demo", "RUNTIME": "onnx"}).config)


@pytest.fixture(scope="module")
def detectors(config):
    """The TensorFlow reference detector and the ONNX one (pruned pyramid, as served)."""
    require_setup()
    return Detector.from_config(config, "tf"), Detector.from_config(config, "onnx", WEIGHTS)


def test_converted_networks_match_tensorflow_on_demo_photos(config):
    photos = [path for _, path in val_photos()[::5]]
    report = check_conversion(WEIGHTS, os.path.join(WEIGHTS, "facenet_keras.weights.h5"), photos, config)
    assert report.problems == []
    assert report.faces >= len(photos) and report.max_box_px <= MAX_BOX_PX
    assert report.max_embed_diff <= MAX_EMBED_DIFF


def test_main_face_is_unchanged_on_every_demo_val_photo(detectors):
    tf_detector, onnx_detector = detectors
    for _, path in val_photos():
        photo = decode(read(path), {**DEFAULTS, "DETECT_MAX_SIDE": 1024})
        reference = tf_detector.main_face(tf_detector.detect(photo), photo)
        served = onnx_detector.main_face(onnx_detector.detect(photo), photo)
        assert np.abs(np.asarray(reference.box) - np.asarray(served.box)).max() <= 1, path


def test_a_small_face_in_a_large_photo_is_found_by_the_full_pyramid_retry(detectors):
    tf_detector, onnx_detector = detectors
    face = Image.open(val_photos()[0][1]).convert("RGB").resize((120, 120))
    canvas = np.full((900, 1200, 3), 128, np.uint8)
    canvas[300:420, 500:620] = np.asarray(face)  # a face of about 60 px: under M = 0.1 x 900 = 90 px
    photo = decode(png_bytes(canvas), {**DEFAULTS, "DETECT_MAX_SIDE": 1200})
    rows, retried = onnx_detector.cascade.detect_rows(photo.rgb)
    assert retried and len(rows) >= 1
    reference = tf_detector.detect(photo)
    served = onnx_detector.detect(photo)
    assert len(served) == len(reference) >= 1
    assert np.abs(np.asarray(reference[0].box) - np.asarray(served[0].box)).max() <= 1


def test_onnx_embeddings_do_not_depend_on_the_batch(engine):
    crops = []
    for _, path in val_photos()[::4]:
        result = engine.analyze(read(path))
        crops.append(engine.detector.crop(result.photo, result.face))
    batched = engine.embedder.embed(np.stack(crops))
    one_by_one = np.concatenate([engine.embedder.embed(c[None]) for c in crops])
    assert engine.runtime == "onnx" and np.abs(batched - one_by_one).max() <= MAX_EMBED_DIFF


@pytest.mark.slow
def test_a_conversion_that_changes_the_embeddings_is_refused(config, tmp_path):
    import onnx
    from onnx import numpy_helper

    for name in NETWORK_NAMES:
        shutil.copy(onnx_path(WEIGHTS, name), onnx_path(str(tmp_path), name))
    model = onnx.load(onnx_path(str(tmp_path), "facenet"))
    largest = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    damaged = numpy_helper.to_array(largest) * np.float32(1.01)  # one layer's weights 1% off
    largest.CopyFrom(numpy_helper.from_array(damaged, largest.name))
    onnx.save(model, onnx_path(str(tmp_path), "facenet"))
    photos = [path for _, path in val_photos()[:2]]
    report = check_conversion(str(tmp_path), os.path.join(WEIGHTS, "facenet_keras.weights.h5"), photos, config)
    assert any("FaceNet embeddings differ" in p for p in report.problems), report


def test_facenet_takes_the_idle_cores_only_when_its_match_runs_alone(config):
    import threading

    from app.pipeline.photos.embed import Embedder
    from app.pipeline.serving.engine_loading import running, running_alone

    crops = np.stack([Image.open(path).convert("RGB").resize((160, 160)) for _, path in val_photos()[:3]])
    onnx = onnx_path(WEIGHTS, "facenet")
    one = Embedder.from_config({**config, "RUNTIME_THREADS_ALONE": 1}, "", "onnx", onnx, alone=running_alone)
    two = Embedder.from_config({**config, "RUNTIME_THREADS_ALONE": 2}, "", "onnx", onnx, alone=running_alone)
    assert one.wide is None and two.wide is not None
    ran = []  # which of two's sessions each call ran on (the real sessions, only recorded)
    for session, threads in ((two.session, 1), (two.wide, 2)):
        session.run = lambda x, real=session.run, threads=threads: ran.append(threads) or real(x)
    with running():  # this match alone: the two-thread session; the same embeddings
        assert np.abs(two.embed(crops) - one.embed(crops)).max() < 1e-5 and ran == [2]
    other = threading.Event()
    release = threading.Event()

    def another_match():
        with running():
            other.set()
            release.wait(10)
    thread = threading.Thread(target=another_match)
    thread.start()
    other.wait(10)
    try:
        with running():  # two matches: each keeps its own thread
            two.embed(crops)
            assert ran == [2, 1]
    finally:
        release.set()
        thread.join()
    assert running_alone()
