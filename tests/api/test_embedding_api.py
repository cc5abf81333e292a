"""Matching an embedding instead of a photo: the served model's id, the answer, and every bad input."""

from __future__ import annotations

import io
import json
import logging

import numpy as np
import pytest

from app.pipeline.networks.checksums import read_checksums
from conftest import read, val_photos


@pytest.fixture()
def served(app, client):
    """(client, model id, the engine's own embedding of val photo 7 and that photo's bytes)."""
    from app.extensions import get_engine

    data = read(val_photos()[7][1])
    with app.app_context():
        engine = get_engine()
        embedding = engine.analyze(data).embedding
        model_id = engine.embedding_model()["id"]
    return client, model_id, embedding, data


def post(client, embedding, model_id, **extra):
    """JSON POST of an embedding to the match API."""
    values = embedding.tolist() if isinstance(embedding, np.ndarray) else embedding
    return client.post("/api/v1/match", json={"embedding": values, "embedding_model": model_id, **extra})


def test_the_model_is_described_with_its_weights_and_settings(client):
    model = client.get("/api/v1/model").get_json()
    assert model["dimension"] == 128 and model["id"].startswith("facenet-")
    sums = read_checksums("instance/weights")
    assert model["network"] == {"file": "facenet_keras.weights.h5", "sha256": sums["facenet_keras.weights.h5"]}
    assert model["settings"]["crop_margin"] == 0.15 and model["settings"]["input_side"] == 160
    assert {"embed_flip", "crop_align", "detect_max_side", "mtcnn_min_face_size", "detect_min_face_fraction",
            "face_choice", "min_face_px"} <= set(model["settings"])
    assert client.get("/readyz").get_json()["embedding_model"] == model["id"]


def test_the_id_changes_with_every_setting_that_changes_an_embedding(app):
    from app.pipeline.serving.embedding_model import describe_model

    weights = "instance/weights/facenet_keras.weights.h5"
    ids = {describe_model(dict(app.config, **overrides), weights)["id"]
           for overrides in ({}, {"CROP_MARGIN": 0.2}, {"EMBED_FLIP": True}, {"DETECT_MAX_SIDE": 800},
                             {"MTCNN_MIN_FACE_SIZE": 24}, {"DETECT_MIN_FACE_FRACTION": 0.2}, {"CROP_ALIGN": True})}
    assert len(ids) == 7
    assert describe_model(dict(app.config, TOP_K=3), weights)["id"] in ids  # scoring only: the same model


def test_an_embedding_is_scored_exactly_as_its_photo(served):
    client, model_id, embedding, data = served
    photo = client.post("/api/v1/match", data={"photo": (io.BytesIO(data), "p.jpg"), "top_k": "3"},
                        content_type="multipart/form-data").get_json()
    resp = post(client, embedding, model_id, top_k=3)
    assert resp.status_code == 200, resp.get_json()
    answer = resp.get_json()
    assert answer == {k: v for k, v in photo.items() if k not in ("face", "face_index", "faces", "faces_detected",
                                                                  "faces_total", "faces_ignored")}
    assert len(answer["matches"]) == 3 and "score" in resp.headers["Server-Timing"]
    slightly_off = embedding * (1 + 5e-4)  # within the unit-length tolerance: renormalized, same answer
    assert post(client, slightly_off, model_id, top_k=3).get_json() == answer


@pytest.mark.parametrize("values, field, words", [
    ([0.1] * 127, "embedding", "exactly 128 numbers; got 127"),
    ([0.1] * 5000, "embedding", "far fewer"),
    ("0.1, 0.2", "embedding", "list of numbers"),
    ({"0": 0.1}, "embedding", "list of numbers"),
    (["0.088"] * 128, "embedding", "must be a JSON number, not str"),
    ([True] * 128, "embedding", "not bool"),
    ([[0.1]] * 128, "embedding", "not list"),
    ([None] * 128, "embedding", "not NoneType"),
    ([0.0] * 128, "embedding", "its norm is 0"),
    ([1.0] * 128, "embedding", "unit length"),
])
def test_bad_embeddings_get_a_400_naming_the_field(served, values, field, words):
    client, model_id, _, _ = served
    resp = post(client, values, model_id)
    assert resp.status_code == 400, resp.get_json()
    body = resp.get_json()
    assert body["error"] == "bad_request" and body["field"] == field and words in body["message"], body


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_values_get_a_400(served, literal):
    client, model_id, embedding, _ = served
    values = [repr(float(v)) for v in embedding]
    values[5] = literal
    text = '{"embedding": [' + ", ".join(values) + '], "embedding_model": "' + model_id + '"}'
    resp = client.post("/api/v1/match", data=text, content_type="application/json")
    assert resp.status_code == 400
    assert resp.get_json()["field"] == "embedding" and "embedding[5]" in resp.get_json()["message"]


def test_another_model_gets_a_409_telling_to_reload(served):
    client, _, embedding, _ = served
    resp = post(client, embedding, "facenet-0000000000000000")
    assert resp.status_code == 409
    body = resp.get_json()
    assert body["error"] == "model_mismatch" and body["field"] == "embedding_model" and "reload" in body["message"]


@pytest.mark.parametrize("body, field", [
    ({"embedding_model": "x"}, "embedding"),  # "embeddings" below; here nothing at all
    ({"embedding": [0.1] * 128}, "embedding_model"),
    ({"embedding": [0.1] * 128, "embedding_model": 7}, "embedding_model"),
    ({"embedding": [0.1] * 128, "embeddings": [[0.1] * 128], "embedding_model": "x"}, "embeddings"),
    ({"embedding": [0.1] * 128, "embedding_model": "x", "image": "AAAA"}, "image"),
    ({"embedding": [0.1] * 128, "embedding_model": "x", "face": 1}, "face"),
    ({"embedding": [0.1] * 128, "embedding_model": "x", "top_k": 0}, "top_k"),
])
def test_malformed_requests_get_a_400_naming_the_field(served, body, field):
    client, model_id, embedding, _ = served
    body = {k: (embedding.tolist() if k == "embedding" else model_id if v == "x" else v) for k, v in body.items()}
    if "embedding" not in body and "embeddings" not in body:
        resp = client.post("/match/embedding", json=body)  # the API would take it for a photo request
        assert resp.status_code == 400 and "embedding" in resp.get_data(as_text=True)
        return
    resp = client.post("/api/v1/match", json=body)
    assert resp.status_code == 400, resp.get_json()
    assert resp.get_json()["field"] == field


def test_keys_and_rate_limits_cover_embeddings(make_app, tmp_path):
    app = make_app(REQUIRE_API_KEY=True, API_KEYS_FILE=str(tmp_path / "keys.json"), RATE_LIMIT="2 per minute")
    client = app.test_client()
    resp = client.post("/api/v1/match", json={"embedding": [0.1] * 128, "embedding_model": "x"})
    assert resp.status_code == 401
    page = [client.post("/match/embedding", json={"embedding": [0.1] * 128, "embedding_model": "x"}).status_code
            for _ in range(3)]
    assert page == [409, 409, 429]  # the page's own route needs no key, and is counted


def test_the_page_route_renders_the_results_page_without_a_face(served):
    client, model_id, embedding, _ = served
    resp = client.post("/match/embedding", json={"embedding": embedding.tolist(), "embedding_model": model_id,
                                                 "top_k": 4})
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert "data-results" in html and "data-private" in html and "data:image/jpeg" not in html
    assert html.count('class="match-card"') == 3 and "never left your device" in html
    assert resp.headers["Cache-Control"] == "no-store"
    bad = client.post("/match/embedding", json={"embedding": embedding.tolist(), "embedding_model": "old"})
    assert bad.status_code == 409 and "reload" in bad.get_data(as_text=True)


def test_embeddings_are_never_logged(served, caplog):
    client, model_id, embedding, _ = served
    caplog.set_level(logging.DEBUG)
    post(client, embedding, model_id)
    post(client, embedding * 3, model_id)
    post(client, embedding, "other")
    client.post("/match/embedding", json={"embedding": embedding.tolist(), "embedding_model": model_id})
    logged = caplog.text + json.dumps([r.args for r in caplog.records], default=str)
    for value in embedding[:8]:
        assert f"{value:.6f}"[:8] not in logged
