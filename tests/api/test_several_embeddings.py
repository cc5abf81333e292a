"""Several embeddings of one person (JSON `embeddings`), matched as several photos are: real demo photos'
embeddings computed with the engine, through the API, the page's private route and the rate limit."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from app.http.inputs import photo_count
from conftest import multipart_files, read, val_photos

FACE_FIELDS = ("face", "face_index", "faces", "faces_detected", "faces_total", "faces_ignored", "photos")
_EMBEDDINGS: dict[tuple[str, int], list[float]] = {}  # the networks' output never changes for a file


def photo(identity: str, index: int) -> bytes:
    return read([path for who, path in val_photos() if who == identity][index])


@pytest.fixture()
def sent(engine):
    """(embedding of a demo val photo by identity and index, the served model id)."""
    def embedding(identity: str, index: int) -> list[float]:
        if (identity, index) not in _EMBEDDINGS:
            _EMBEDDINGS[identity, index] = engine.analyze(photo(identity, index)).embedding.tolist()
        return _EMBEDDINGS[identity, index]
    return embedding, engine.embedding_model()["id"]


def post(client, embeddings, model_id, url="/api/v1/match", **extra):
    return client.post(url, json={"embeddings": embeddings, "embedding_model": model_id, **extra})


def test_embeddings_are_matched_exactly_as_their_photos(client, sent):
    embedding, model_id = sent
    photos = client.post("/api/v1/match", data=multipart_files(photo=[photo("madonna", 0), photo("madonna", 1)],
                                                              top_k="3", gender="female")).get_json()
    resp = post(client, [embedding("madonna", 0), embedding("madonna", 1)], model_id, top_k=3, gender="female")
    assert resp.status_code == 200, resp.get_json()
    answer = resp.get_json()
    assert answer == {k: v for k, v in photos.items() if k not in FACE_FIELDS}
    assert answer["photos_used"] == 2 and answer["matches"][0]["identity"] == "madonna"
    assert answer["filters"]["gender"] == "female" and {m["gender"] for m in answer["matches"]} == {"female"}
    assert answer["certainty"]["level"] in ("clear", "close_call")
    one = post(client, [embedding("madonna", 0)], model_id).get_json()
    alone = client.post("/api/v1/match", json={"embedding": embedding("madonna", 0), "embedding_model": model_id})
    assert one == alone.get_json() and one["photos_used"] == 1


def test_embeddings_of_different_people_name_the_odd_one(client, sent):
    embedding, model_id = sent
    odd = post(client, [embedding("madonna", 0), embedding("elton_john", 0), embedding("madonna", 1)], model_id)
    body = odd.get_json()
    assert odd.status_code == 422 and body["error"] == "different_people" and body["field"] == "embeddings[1]"
    assert body["message"].startswith("embeddings[1] shows someone else than the other two photos")
    pair = post(client, [embedding("madonna", 0), embedding("elton_john", 0)], model_id)
    assert pair.status_code == 422 and "These 2 photos show different people" in pair.get_json()["message"]
    # The same photos uploaded get the same verdict, naming the same position.
    uploaded = client.post("/api/v1/match", data=multipart_files(
        photo=[photo("madonna", 0), photo("elton_john", 0), photo("madonna", 1)])).get_json()
    assert uploaded["field"] == "photo[1]"


def unit(values) -> list[float]:
    v = np.asarray(values, np.float64)
    return (v / np.linalg.norm(v)).tolist()


@pytest.mark.parametrize("second, words", [
    (lambda e: e[:127], '"embeddings[1]" must hold exactly 128 numbers; got 127'),
    (lambda e: [str(v) for v in e], '"embeddings[1][0]" must be a JSON number, not str'),
    (lambda e: [0.0] * 128, '"embeddings[1]" must have unit length'),
    (lambda e: [v * 2 for v in e], '"embeddings[1]" must have unit length'),
    (lambda e: [[v] for v in e], '"embeddings[1][0]" must be a JSON number, not list'),
    (lambda e: "0.1, 0.2", '"embeddings[1]" must be a list of numbers'),
])
def test_each_embedding_is_checked_as_one_is_naming_it(client, sent, second, words):
    embedding, model_id = sent
    first = embedding("jerry_seinfeld", 0)
    resp = post(client, [first, second(embedding("jerry_seinfeld", 1))], model_id)
    assert resp.status_code == 400, resp.get_json()
    body = resp.get_json()
    assert body["error"] == "bad_request" and body["field"] == "embeddings[1]" and words in body["message"], body


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-1e999"])
def test_non_finite_values_are_named(client, sent, literal):
    embedding, model_id = sent
    values = [repr(v) for v in embedding("ben_afflek", 1)]
    values[7] = literal
    text = ('{"embeddings": [' + json.dumps(embedding("ben_afflek", 0)) + ", [" + ", ".join(values) + ']], '
            '"embedding_model": "' + model_id + '"}')
    resp = client.post("/api/v1/match", data=text, content_type="application/json")
    assert resp.status_code == 400 and resp.get_json()["field"] == "embeddings[1]"
    assert '"embeddings[1][7]" is not a finite number' in resp.get_json()["message"]


def test_the_request_itself_is_checked(client, sent):
    embedding, model_id = sent
    e = embedding("mindy_kaling", 0)
    cases = [({"embeddings": []}, 400, "embeddings"), ({"embeddings": [e] * 4}, 400, "embeddings"),
             ({"embeddings": e}, 400, "embeddings[0]"), ({"embeddings": {"0": e}}, 400, "embeddings"),
             ({"embeddings": [e], "embedding": e}, 400, "embeddings"),
             ({"embeddings": [e], "images": ["AAAA"]}, 400, "images"),
             ({"embeddings": [e, e], "embedding_model": "facenet-0000000000000000"}, 409, "embedding_model")]
    for body, status, field in cases:
        resp = client.post("/api/v1/match", json={"embedding_model": model_id, **body})
        assert (resp.status_code, resp.get_json()["field"]) == (status, field), (body.keys(), resp.get_json())
    assert "at most 3 photos" in client.post("/api/v1/match", json={"embedding_model": model_id,
                                                                    "embeddings": [e] * 4}).get_json()["message"]


def test_each_embedding_counts_against_the_rate_limit_and_in_the_queue(make_app, sent):
    embedding, model_id = sent
    app = make_app(RATE_LIMIT="3/minute")
    three = [embedding("elton_john", i) for i in range(3)]
    with app.test_request_context("/api/v1/match", method="POST", json={"embeddings": three}):
        assert photo_count() == 3  # the CPU queue's count too (app/http/admission.py)
    with app.test_request_context("/api/v1/match", method="POST", json={"embeddings": three * 5}):
        assert photo_count() == 3  # more than 3 is refused, never queued for longer
    client = app.test_client()
    for url in ("/api/v1/match", "/match/embedding"):  # each route has its own count
        assert post(client, three, model_id, url=url).status_code == 200
        assert post(client, three[:1], model_id, url=url).status_code == 429


def test_the_private_page_route_takes_several_embeddings(client, sent):
    embedding, model_id = sent
    page = post(client, [embedding("jerry_seinfeld", 0), embedding("jerry_seinfeld", 1)], model_id,
                url="/match/embedding", top_k="4")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "You look most like" in html and "data-private" in html
    assert "from your 2 photos" in html and "data-picker-section" not in html
    odd = post(client, [embedding("jerry_seinfeld", 0), embedding("madonna", 0), embedding("jerry_seinfeld", 1)],
               model_id, url="/match/embedding")
    html = odd.get_data(as_text=True)
    assert odd.status_code == 422 and 'data-error-photo="1"' in html
    assert "Your second photo shows a different person from the other two" in html


def test_embeddings_are_never_logged(client, sent, caplog):
    embedding, model_id = sent
    caplog.set_level(logging.DEBUG)
    two = [embedding("mindy_kaling", 0), embedding("mindy_kaling", 1)]
    post(client, two, model_id)
    post(client, [two[0], embedding("ben_afflek", 0)], model_id)
    post(client, [two[0], [v * 3 for v in two[1]]], model_id)
    post(client, two, model_id, url="/match/embedding")
    logged = caplog.text + json.dumps([r.args for r in caplog.records], default=str)
    for value in two[0][:4] + two[1][:4]:
        assert f"{value:.6f}"[:8] not in logged
